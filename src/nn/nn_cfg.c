/* nn_cfg.c — model files (configs/models/<name>.yaml, "hust19-model" version 1) and training sections.
 *
 *     format: hust19-model
 *     version: 1
 *     name: slice-cnn
 *     input: [1, 200, 200]        # C, H, W; or [N] for a vector; [0] = given at build time
 *     layers:                     # each item: a bare name or a one-key map
 *       - conv: 32                # 3x3 same-padded convolution, 32 filters
 *       - relu
 *       - pool                    # 2x2 max pooling, stride 2
 *       - gap                     # global average pooling: each channel's map to its mean
 *       - gmp                     # global max pooling: each channel's map to its maximum
 *       - dense: 256
 *       - dropout: 0.5
 *       - output: 3               # dense 3 + softmax (1 = dense 1 + sigmoid); overridable
 *     train: {epochs: 500, batch: 64, lr: 1.0e-4, decay: 0.05}   # optional, see nn_hyper_read
 *
 * Strict: unknown keys, unknown layer names and maps with more than one key are errors naming
 * file, line and column (cfg.h).
 */
#include "hust19/cfg.h"
#include "hust19/err.h"
#include "hust19/nn.h"

#include <stdlib.h>
#include <string.h>

int nn_hyper_read(cfg_doc *d, cfg_node *map, nn_hyper *h)
{
    if (!map) return H19_OK;
    long v;
    double x;
    H19_TRY(cfg_int(d, map, "epochs", h->epochs, 0, 1000000, &v));
    h->epochs = (int)v;
    H19_TRY(cfg_int(d, map, "batch", h->batch, 1, 1 << 20, &v));
    h->batch = (int)v;
    H19_TRY(cfg_int(d, map, "micro_batch", h->micro_batch, 0, 1 << 20, &v));
    h->micro_batch = (int)v;
    H19_TRY(cfg_double(d, map, "lr", h->lr, 1e-12, 10.0, &x));
    h->lr = (float)x;
    H19_TRY(cfg_double(d, map, "decay", h->decay, 0.0, 1e6, &x));
    h->decay = (float)x;
    H19_TRY(cfg_double(d, map, "beta1", h->beta1, 0.0, 0.999999, &x));
    h->beta1 = (float)x;
    H19_TRY(cfg_double(d, map, "beta2", h->beta2, 0.0, 0.99999999, &x));
    h->beta2 = (float)x;
    H19_TRY(cfg_double(d, map, "eps", h->eps, 1e-12, 1.0, &x));
    h->eps = (float)x;
    H19_TRY(cfg_double(d, map, "l2", h->l2, 0.0, 10.0, &x));
    h->l2 = (float)x;
    H19_TRY(cfg_double(d, map, "dropout", h->dropout, -1.0, 0.95, &x));
    h->dropout = (float)x;
    H19_TRY(cfg_int(d, map, "patience", h->patience, 0, 1000000, &v));
    h->patience = (int)v;
    H19_TRY(cfg_int(d, map, "fixed_bits", h->fixed_bits, 8, 56, &v));
    h->fixed_bits = (int)v;
    H19_TRY(cfg_int(d, map, "average_from", h->average_from, 0, 1000000, &v));
    h->average_from = (int)v;
    static const char *const stops[] = {"accuracy", "loss", "auc", NULL};
    H19_TRY(cfg_enum(d, map, "early_stop", stops, h->early_stop, &h->early_stop));
    static const char *const weights[] = {"none", "balanced", NULL};
    H19_TRY(cfg_enum(d, map, "class_weight", weights, h->class_weight, &h->class_weight));
    return H19_OK;
}

static const char *const layer_names[] = {"conv", "pool", "dense", "relu", "dropout", "output", "gap", "gmp", NULL};

/* Parse layers; output expands into dense + head. */
static int parse_layers(cfg_doc *d, cfg_node *seq, int classes_override, nn_layer_spec **out, int *nout)
{
    nn_layer_spec *s = h19_calloc((size_t)seq->n * 2 + 1, sizeof *s);
    if (!s) return H19_ENOMEM;
    int k = 0, rc = H19_OK, have_out = 0;
    for (int i = 0; i < seq->n && !rc; i++) {
        cfg_node *it = seq->items[i], *arg = NULL;
        const char *name = NULL;
        if (it->kind == CFG_SCALAR) {
            name = it->value;
        } else if (it->kind == CFG_MAP && it->n == 1) {
            name = it->keys[0];
            arg = cfg_find(it, name);
        } else {
            rc = cfg_error(d, it, "layer %d must be a name (relu, pool) or a one-key map (conv: 32)", i + 1);
            break;
        }
        int t = -1;
        for (int j = 0; layer_names[j]; j++)
            if (strcmp(name, layer_names[j]) == 0) t = j;
        if (t < 0) {
            rc = cfg_error(d, it, "unknown layer '%s' (known: conv, pool, gap, gmp, dense, relu, dropout, output)", name);
            break;
        }
        if (have_out) {
            rc = cfg_error(d, it, "layer '%s' after the output layer: output must be last", name);
            break;
        }
        int needs_arg = t == 0 || t == 2 || t == 4 || t == 5;
        if (needs_arg != (arg != NULL)) {
            rc = cfg_error(d, it, needs_arg ? "layer '%s' needs a value (e.g. '%s: 32')" : "layer '%s' takes no value%s",
                           name, needs_arg ? name : "");
            break;
        }
        long n = 0;
        double p = 0;
        switch (t) {
        case 0:
        case 2:
            rc = cfg_node_int(d, arg, &n);
            if (!rc && (n < 1 || n > 1 << 20)) rc = cfg_error(d, arg, "'%s' width %ld out of range [1, 2^20]", name, n);
            s[k++] = t == 0 ? NN_CONV3_((int)n) : NN_DENSE_((int)n);
            break;
        case 1: s[k++] = NN_POOL2_; break;
        case 6: s[k++] = NN_GAP_; break;
        case 7: s[k++] = NN_GMP_; break;
        case 3: s[k++] = NN_RELU_; break;
        case 4:
            rc = cfg_node_double(d, arg, &p);
            if (!rc && !(p >= 0 && p < 0.95)) rc = cfg_error(d, arg, "dropout rate %g not in [0, 0.95)", p);
            s[k++] = NN_DROPOUT_((float)p);
            break;
        case 5:
            rc = cfg_node_int(d, arg, &n);
            if (!rc && (n < 1 || n > 1 << 16)) rc = cfg_error(d, arg, "output classes %ld out of range", n);
            if (classes_override > 0) n = classes_override;
            s[k++] = NN_DENSE_((int)n);
            s[k++] = n == 1 ? NN_SIGMOID_BCE_ : NN_SOFTMAX_CE_;
            have_out = 1;
            break;
        }
    }
    if (!rc && !have_out) rc = cfg_error(d, seq, "the layer list must end with 'output: <classes>'");
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    *nout = k;
    return H19_OK;
}

int nn_model_load(const char *path, int input_override, int classes_override, int *C, int *H, int *W,
                  nn_layer_spec **spec, int *nspec, nn_hyper *h)
{
    *spec = NULL;
    *nspec = 0;
    cfg_doc d;
    H19_TRY(cfg_load(&d, path));
    int rc;
    const char *fmt;
    long ver;
    rc = cfg_str(&d, d.root, "format", NULL, 1, &fmt);
    if (!rc && strcmp(fmt, "hust19-model") != 0)
        rc = cfg_error(&d, cfg_peek(d.root, "format"), "format '%s' is not 'hust19-model'", fmt);
    if (!rc) rc = cfg_int(&d, d.root, "version", 0, 0, 1000, &ver);
    if (!rc && ver != 1)
        rc = cfg_error(&d, cfg_peek(d.root, "version"), "model file version %ld, this build reads version 1", ver);
    const char *name;
    if (!rc) rc = cfg_str(&d, d.root, "name", "", 0, &name);
    cfg_node *in = rc ? NULL : cfg_seq(&d, d.root, "input", 1, &rc);
    long dims[3] = {1, 1, 1};
    if (!rc && in->n != 1 && in->n != 3) rc = cfg_error(&d, in, "input must be [C, H, W] or [N]");
    for (int i = 0; !rc && i < in->n; i++) {
        rc = cfg_node_int(&d, in->items[i], &dims[in->n == 1 ? 2 : i]);
        if (!rc && (dims[in->n == 1 ? 2 : i] < 0 || dims[in->n == 1 ? 2 : i] > 1 << 24))
            rc = cfg_error(&d, in->items[i], "input size out of range");
    }
    if (!rc && in->n == 1 && input_override > 0) dims[2] = input_override;
    if (!rc && (dims[0] < 1 || dims[1] < 1 || dims[2] < 1))
        rc = cfg_error(&d, in, "input size 0 must be given at build time (e.g. the number of clinical features)");
    cfg_node *ls = rc ? NULL : cfg_seq(&d, d.root, "layers", 1, &rc);
    if (!rc) rc = parse_layers(&d, ls, classes_override, spec, nspec);
    if (!rc) {
        cfg_node *tr = cfg_map(&d, d.root, "train", 0, &rc);
        if (!rc && h) {
            *h = nn_hyper_default();
            rc = nn_hyper_read(&d, tr, h);
        } else if (!rc && tr) {
            cfg_mark_all(tr);
        }
    }
    if (!rc) rc = cfg_check_unused(&d);
    /* validate the architecture now, so a bad file fails here with its name */
    if (!rc) {
        nn_net *net;
        rc = nn_net_create(&net, (int)dims[0], (int)dims[1], (int)dims[2], *spec, *nspec, 1);
        if (rc) h19_fail_ctx(rc, "%s: ", path);
        nn_net_free(net);
    }
    cfg_free(&d);
    if (rc) {
        free(*spec);
        *spec = NULL;
        *nspec = 0;
        return rc;
    }
    *C = (int)dims[0];
    *H = (int)dims[1];
    *W = (int)dims[2];
    return H19_OK;
}
