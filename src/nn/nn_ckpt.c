/* nn_ckpt.c — training checkpoints (format "H19NNCKP" version 1, docs/nn.md) and raw weights.
 *
 * A checkpoint is one flat binary file: header, state, then params, m, v and best weights as
 * float32 arrays in the net's parameter layout, closed by a 64-bit checksum of everything before
 * it. It is written to path.tmp.<pid>, fsynced and renamed, so a reader sees either the old or
 * the new file, never a half-written one.
 */
#include "hust19/err.h"
#include "hust19/nn.h"
#include "hust19/rng.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CKPT_MAGIC "H19NNCKP"
#define CKPT_VERSION 1u

typedef struct {
    char magic[8];
    uint32_t version, flags;
    uint64_t nparams, arch_hash, hyper_hash;
    int64_t step;
    int32_t epoch, batch_pos, best_epoch, wait, done, pad;
    double best_acc, last_loss, epoch_loss;
} ckpt_header;

/* Architecture fingerprint: kinds, widths and shapes of every layer. */
static uint64_t arch_hash(const nn_net *net)
{
    uint64_t hsh = h19_mix64(0x4E4E415243480001ull ^ (uint64_t)net->nlayers);
    for (int l = 0; l < net->nlayers; l++) {
        const nn_layer *L = &net->layers[l];
        uint64_t v[6] = {(uint64_t)L->spec.kind, (uint64_t)L->spec.n, (uint64_t)L->C, (uint64_t)L->H,
                         (uint64_t)L->W, (uint64_t)L->OC};
        for (int i = 0; i < 6; i++) hsh = h19_mix64(hsh ^ (v[i] + 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1)));
    }
    return hsh;
}

/* FNV-1a over bytes, folded through mix64: a cheap corruption check, not a cryptographic one. */
static uint64_t sum_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

static int wr(FILE *f, const void *p, size_t n, uint64_t *h, const char *path)
{
    if (n && fwrite(p, 1, n, f) != n) return h19_fail(H19_EIO, "%s: write failed: %s", path, strerror(errno));
    *h = sum_bytes(*h, p, n);
    return H19_OK;
}

static int rd(FILE *f, void *p, size_t n, uint64_t *h, const char *path)
{
    if (n && fread(p, 1, n, f) != n)
        return h19_fail(H19_EFORMAT, "%s: truncated checkpoint (expected %zu more bytes)", path, n);
    *h = sum_bytes(*h, p, n);
    return H19_OK;
}

int nn_ckpt_write(const char *path, const nn_net *net, const nn_ckpt_state *st)
{
    size_t len = strlen(path) + 32;
    char *tmp = h19_malloc(len);
    if (!tmp) return H19_ENOMEM;
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int rc = h19_fail(H19_EIO, "%s: cannot create checkpoint: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    ckpt_header hd;
    memset(&hd, 0, sizeof hd);
    memcpy(hd.magic, CKPT_MAGIC, 8);
    hd.version = CKPT_VERSION;
    hd.nparams = net->nparams;
    hd.arch_hash = arch_hash(net);
    hd.hyper_hash = st->hyper_hash;
    hd.step = st->step;
    hd.epoch = st->epoch;
    hd.batch_pos = st->batch_pos;
    hd.best_epoch = st->best_epoch;
    hd.wait = st->wait;
    hd.done = st->done;
    hd.best_acc = st->best_acc;
    hd.last_loss = st->last_loss;
    hd.epoch_loss = st->epoch_loss;
    uint64_t h = 0xCBF29CE484222325ull;
    size_t np = net->nparams * sizeof(float);
    int rc = wr(f, &hd, sizeof hd, &h, tmp);
    if (!rc) rc = wr(f, net->params, np, &h, tmp);
    if (!rc) rc = wr(f, net->m, np, &h, tmp);
    if (!rc) rc = wr(f, net->v, np, &h, tmp);
    if (!rc) rc = wr(f, st->best, np, &h, tmp);
    if (!rc) {
        uint64_t hh = h;
        rc = wr(f, &hh, sizeof hh, &h, tmp);
    }
    if (!rc && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        rc = h19_fail(H19_EIO, "%s: flush failed: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && !rc) rc = h19_fail(H19_EIO, "%s: close failed: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = h19_fail(H19_EIO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (rc) remove(tmp);
    free(tmp);
    return rc;
}

int nn_ckpt_read(const char *path, nn_net *net, nn_ckpt_state *st)
{
    FILE *f = fopen(path, "rb");
    if (!f) return h19_fail(H19_EIO, "%s: cannot open checkpoint: %s", path, strerror(errno));
    ckpt_header hd;
    uint64_t h = 0xCBF29CE484222325ull;
    int rc = rd(f, &hd, sizeof hd, &h, path);
    if (!rc && memcmp(hd.magic, CKPT_MAGIC, 8) != 0)
        rc = h19_fail(H19_EFORMAT, "%s: not a hust19 training checkpoint (bad magic)", path);
    if (!rc && hd.version != CKPT_VERSION)
        rc = h19_fail(H19_EFORMAT, "%s: checkpoint version %u, this build reads %u: delete it to restart training",
                      path, hd.version, CKPT_VERSION);
    if (!rc && (hd.nparams != net->nparams || hd.arch_hash != arch_hash(net)))
        rc = h19_fail(H19_EFORMAT, "%s: checkpoint is of another architecture (%llu parameters, this net has %zu)",
                      path, (unsigned long long)hd.nparams, net->nparams);
    if (!rc && hd.hyper_hash != st->hyper_hash)
        rc = h19_fail(H19_EFORMAT,
                      "%s: checkpoint was written with other training settings (seed, fold, batch, lr...): "
                      "restore them or delete the checkpoint", path);
    /* read into temporaries so a corrupt file leaves the net untouched */
    size_t np = net->nparams;
    float *buf = NULL;
    if (!rc && !(buf = h19_malloc(sizeof(float) * 4 * (np ? np : 1)))) rc = H19_ENOMEM;
    for (int k = 0; k < 4 && !rc; k++) rc = rd(f, buf + (size_t)k * np, np * sizeof(float), &h, path);
    uint64_t stored = 0, h0 = h;
    if (!rc) rc = rd(f, &stored, sizeof stored, &h, path);
    if (!rc && stored != h0) rc = h19_fail(H19_EFORMAT, "%s: checkpoint checksum mismatch (corrupt file)", path);
    fclose(f);
    if (!rc) {
        memcpy(net->params, buf, np * sizeof(float));
        memcpy(net->m, buf + np, np * sizeof(float));
        memcpy(net->v, buf + 2 * np, np * sizeof(float));
        memcpy(st->best, buf + 3 * np, np * sizeof(float));
        net->step = (long)hd.step;
        st->step = (long)hd.step;
        st->epoch = hd.epoch;
        st->batch_pos = hd.batch_pos;
        st->best_epoch = hd.best_epoch;
        st->wait = hd.wait;
        st->done = hd.done;
        st->best_acc = hd.best_acc;
        st->last_loss = hd.last_loss;
        st->epoch_loss = hd.epoch_loss;
    }
    free(buf);
    return rc;
}

int nn_params_save_raw(const nn_net *net, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) return h19_fail(H19_EIO, "%s: cannot create: %s", path, strerror(errno));
    size_t n = fwrite(net->params, sizeof(float), net->nparams, f);
    int bad = fclose(f) != 0 || n != net->nparams;
    return bad ? h19_fail(H19_EIO, "%s: write failed", path) : H19_OK;
}

int nn_params_load_raw(nn_net *net, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return h19_fail(H19_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t n = fread(net->params, sizeof(float), net->nparams, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (n != net->nparams || extra)
        return h19_fail(H19_EFORMAT, "%s: expected exactly %zu float32 parameters", path, net->nparams);
    return H19_OK;
}
