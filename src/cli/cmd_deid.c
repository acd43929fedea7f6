/* cmd_deid.c — `hust19 deid IN OUT`: de-identify a DICOM file or a whole tree (mirrored) after
 * DICOM PS3.15 Annex E, Basic Application Level Confidentiality Profile (dcm_deid_file, docs/dicom.md).
 *
 * Under MPI the files of a tree are dealt round-robin over the ranks in sorted order; the result does
 * not depend on the number of ranks, because every replacement is a pure function of (secret, value).
 */
#include "commands.h"
#include "hust19/cli.h"
#include "hust19/csv.h"
#include "hust19/dicom.h"
#include "hust19/dist.h"
#include "hust19/err.h"
#include "hust19/job.h"
#include "hust19/log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *HELP =
    "usage: hust19 deid IN OUT (--secret-file F | --secret S) [--patient-id P | --id-map CSV]\n"
    "                   [--keep-private] [--strict]\n\n"
    "De-identifies DICOM files after DICOM PS3.15 Annex E (Basic Application Level Confidentiality\n"
    "Profile): identifying attributes are removed, emptied or replaced, private tags removed,\n"
    "sequences recursed into, and every UID replaced by 2.25.<HMAC-SHA256(secret, UID)> so that the\n"
    "same UID maps to the same new UID in every file de-identified with the same secret.\n"
    "IN is a file or a directory; a directory is walked recursively and mirrored under OUT (files\n"
    "that are not DICOM — no 'DICM' magic and no .dcm extension — are skipped). OUT may be an\n"
    "existing directory when IN is a file. In a tree, a file that is not a readable CT/DICOM file\n"
    "(truncated, corrupt, unsupported) is reported and skipped, unless --strict.\n\n"
    "  --secret-file F  the key, read from F (trailing whitespace dropped); preferred over --secret,\n"
    "                   which other users can see in the process list. HUST19_DEID_SECRET also works.\n"
    "  --patient-id P   the pseudonym for PatientID (and PatientName) of every file\n"
    "  --id-map CSV     pseudonyms per patient: a CSV with columns patient_id,pseudonym; a file whose\n"
    "                   PatientID is not in the map is an error\n"
    "  --keep-private   keep private (odd-group) attributes (not the profile; for debugging)\n"
    "  --strict         a bad file in a tree is fatal\n"
    "Without --patient-id/--id-map the pseudonym is H19-<16 hex digits of HMAC(secret, PatientID)>.\n";

typedef struct {
    char **in, **out;
    int n, cap;
} file_list;

static int list_add(file_list *l, const char *in, const char *out)
{
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 64;
        char **a = h19_realloc(l->in, sizeof(char *) * (size_t)nc);
        if (!a) return H19_ENOMEM;
        l->in = a;
        char **b = h19_realloc(l->out, sizeof(char *) * (size_t)nc);
        if (!b) return H19_ENOMEM;
        l->out = b;
        l->cap = nc;
    }
    l->in[l->n] = h19_strdup(in);
    l->out[l->n] = h19_strdup(out);
    if (!l->in[l->n] || !l->out[l->n]) {
        free(l->in[l->n]);
        free(l->out[l->n]);
        return H19_ENOMEM;
    }
    l->n++;
    return H19_OK;
}

static void list_free(file_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->in[i]);
        free(l->out[i]);
    }
    free(l->in);
    free(l->out);
    memset(l, 0, sizeof *l);
}

/* A DICOM Part 10 file has "DICM" at offset 128; bare data sets (no preamble) are accepted when
 * they are named *.dcm. */
static int looks_dicom(const char *path)
{
    size_t n = strlen(path);
    if (n > 4 && !strcasecmp(path + n - 4, ".dcm")) return 1;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char b[132];
    size_t got = fread(b, 1, sizeof b, f);
    fclose(f);
    return got == sizeof b && !memcmp(b + 128, "DICM", 4);
}

static int walk(const char *in, const char *out, file_list *l, int *skipped, int depth)
{
    if (depth > 64) return h19_fail(H19_EARG, "%s: directory tree deeper than 64 levels (a link loop?)", in);
    struct dirent **ents = NULL;
    int n = scandir(in, &ents, NULL, alphasort); /* sorted: the same order on every rank */
    if (n < 0) return h19_fail(H19_EIO, "%s: cannot list directory: %s", in, strerror(errno));
    int rc = H19_OK;
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        if (!rc && strcmp(name, ".") && strcmp(name, "..")) {
            char pi[PATH_MAX], po[PATH_MAX];
            if (snprintf(pi, sizeof pi, "%s/%s", in, name) >= (int)sizeof pi ||
                snprintf(po, sizeof po, "%s/%s", out, name) >= (int)sizeof po) {
                rc = h19_fail(H19_EARG, "%s/%s: path too long", in, name);
            } else {
                struct stat st;
                if (stat(pi, &st) != 0)
                    rc = h19_fail(H19_EIO, "%s: cannot stat: %s", pi, strerror(errno));
                else if (S_ISDIR(st.st_mode))
                    rc = walk(pi, po, l, skipped, depth + 1);
                else if (S_ISREG(st.st_mode) && looks_dicom(pi))
                    rc = list_add(l, pi, po);
                else
                    (*skipped)++;
            }
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

static int read_secret(const cli_args *a, char **secret)
{
    *secret = NULL;
    const char *file = cli_opt(a, "--secret-file"), *s = cli_opt(a, "--secret");
    if (file && s) return h19_fail(H19_EARG, "give --secret or --secret-file, not both");
    if (file) {
        size_t n = 0;
        H19_TRY(h19_read_file(file, secret, &n));
        while (n && isspace((unsigned char)(*secret)[n - 1])) (*secret)[--n] = 0;
        if (!n) {
            free(*secret);
            *secret = NULL;
            return h19_fail(H19_EARG, "%s: the secret file is empty", file);
        }
        return H19_OK;
    }
    if (!s) s = getenv("HUST19_DEID_SECRET");
    if (!s || !*s)
        return h19_fail(H19_EARG, "a secret is required (--secret-file F, --secret S or HUST19_DEID_SECRET): it keys "
                                  "the UID hash; keep it to de-identify later files of the same patients consistently");
    *secret = h19_strdup(s);
    return *secret ? H19_OK : H19_ENOMEM;
}

/* realpath() of a path that may not exist yet: the deepest existing ancestor resolved, the rest
 * appended as given. */
static int resolve(const char *path, char *out)
{
    char head[PATH_MAX], tail[PATH_MAX] = "";
    snprintf(head, sizeof head, "%s", path);
    for (;;) {
        if (realpath(head, out)) break;
        if (errno != ENOENT) return h19_fail(H19_EIO, "%s: %s", path, strerror(errno));
        char *slash = strrchr(head, '/');
        char t2[2 * PATH_MAX + 2];
        snprintf(t2, sizeof t2, "/%s%s", slash ? slash + 1 : head, tail);
        if (strlen(t2) >= sizeof tail) return h19_fail(H19_EARG, "%s: path too long", path);
        memcpy(tail, t2, strlen(t2) + 1);
        if (!slash) {
            snprintf(head, sizeof head, ".");
        } else if (slash == head) {
            head[1] = 0;
        } else {
            *slash = 0;
        }
    }
    size_t n = strlen(out);
    if (n + strlen(tail) >= PATH_MAX) return h19_fail(H19_EARG, "%s: path too long", path);
    memcpy(out + n, tail, strlen(tail) + 1);
    return H19_OK;
}

/* Make the parent directory of path. */
static int make_parent(const char *path)
{
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (!slash || slash == d) return H19_OK;
    *slash = 0;
    return h19_mkdir_p(d);
}

static int deid_one(const char *in, const char *out, dcm_deid_opts *o, const csv_table *map, int col_id,
                    int col_ps)
{
    if (map) {
        const uint32_t tag = 0x00100020u;
        char pid[128];
        int found = 0;
        H19_TRY(dcm_get_string(in, &tag, 1, pid, sizeof pid, &found));
        o->patient_id = NULL;
        for (int r = 1; found && r < map->nrows; r++)
            if (!strcmp(csv_cell(map, r, col_id), pid)) o->patient_id = csv_cell(map, r, col_ps);
        /* The message names the file, not the PatientID: logs must not carry identities. */
        if (!o->patient_id || !*o->patient_id)
            return h19_fail(H19_EARG, "%s: its PatientID is not in the id map (or has an empty pseudonym)", in);
    }
    H19_TRY(make_parent(out));
    return dcm_deid_file(in, out, o);
}

int cmd_deid(int argc, char **argv)
{
    static const char *const vopts[] = {"--secret", "--secret-file", "--patient-id", "--id-map", NULL};
    static const char *const fopts[] = {"--keep-private", "--strict", NULL};
    cli_args a;
    int rc = cli_parse(argc, argv, vopts, fopts, &a);
    if (rc) return cli_report("deid", rc);
    if (a.help) {
        if (dist_rank() == 0) fputs(HELP, stdout);
        return H19_EXIT_OK;
    }
    if (a.npos != 2) {
        if (dist_rank() == 0) fputs(HELP, stderr);
        return cli_report("deid", h19_fail(H19_EARG, "expected IN and OUT, got %d arguments", a.npos));
    }
    if (cli_opt(&a, "--patient-id") && cli_opt(&a, "--id-map"))
        return cli_report("deid", h19_fail(H19_EARG, "give --patient-id or --id-map, not both"));
    char *secret = NULL;
    rc = read_secret(&a, &secret);
    if (rc) return cli_report("deid", rc);

    const char *in = a.pos[0], *out = a.pos[1];
    csv_table map;
    memset(&map, 0, sizeof map);
    int have_map = 0, col_id = -1, col_ps = -1;
    file_list l = {0};
    int skipped = 0;
    struct stat si, so;
    int tree = 0, nbad = 0;
    if (cli_opt(&a, "--id-map")) {
        rc = csv_read(cli_opt(&a, "--id-map"), 1, &map);
        if (!rc) {
            have_map = 1;
            col_id = csv_column(&map, "patient_id");
            col_ps = csv_column(&map, "pseudonym");
            if (col_id < 0 || col_ps < 0)
                rc = h19_fail(H19_EFORMAT, "%s: the id map needs columns patient_id and pseudonym",
                              cli_opt(&a, "--id-map"));
        }
    }
    if (!rc && stat(in, &si) != 0) rc = h19_fail(H19_EIO, "%s: cannot open: %s", in, strerror(errno));
    if (!rc && S_ISDIR(si.st_mode)) {
        tree = 1;
        /* Refuse OUT inside IN (the walk would find its own output) and IN == OUT. */
        char rin[PATH_MAX], rout[PATH_MAX];
        if (!realpath(in, rin)) rc = h19_fail(H19_EIO, "%s: %s", in, strerror(errno));
        if (!rc) rc = resolve(out, rout);
        size_t nin = rc ? 0 : strlen(rin);
        if (!rc && !strncmp(rin, rout, nin) && (rout[nin] == 0 || rout[nin] == '/'))
            rc = h19_fail(H19_EARG, "OUT (%s) must not be IN (%s) or inside it", out, in);
        if (!rc) rc = h19_mkdir_p(out);
        if (!rc) rc = walk(in, out, &l, &skipped, 0);
    } else if (!rc) {
        char po[PATH_MAX];
        if (stat(out, &so) == 0 && S_ISDIR(so.st_mode)) {
            const char *base = strrchr(in, '/');
            snprintf(po, sizeof po, "%s/%s", out, base ? base + 1 : in);
        } else {
            snprintf(po, sizeof po, "%s", out);
        }
        rc = list_add(&l, in, po);
    }
    if (!rc) {
        dcm_deid_opts o = {.secret = secret, .patient_id = cli_opt(&a, "--patient-id"),
                           .keep_private = cli_flag(&a, "--keep-private")};
        int rank = dist_rank(), size = dist_size();
        h19_progress pr;
        h19_progress_begin(&pr, "deid", l.n);
        int strict = cli_flag(&a, "--strict");
        for (int i = rank; !rc && i < l.n; i += size) {
            rc = deid_one(l.in[i], l.out[i], &o, have_map ? &map : NULL, col_id, col_ps);
            /* DESIGN.md: a bad file in a large archive is reported and skipped, not fatal. Only
             * bad input is skipped; I/O failures, a bad secret or id map stay fatal. */
            if (tree && !strict && (rc == H19_EFORMAT || rc == H19_EUNSUP)) {
                h19_log_all(H19_LOG_WARN, "deid: skipped: %s", h19_errmsg());
                nbad++;
                rc = H19_OK;
            }
            h19_progress_update(&pr, (int64_t)i + 1);
        }
        h19_progress_end(&pr, l.n);
    }
    /* A failure on any rank fails the command; only the ranks that failed print (the message of
     * the lowest failing rank, as dist_agree re-records it). */
    int own = rc;
    rc = dist_agree(rc);
    int32_t bad32 = nbad;
    if (!rc) rc = dist_merge_i32(&bad32, 1);
    if (!rc)
        LOG_INFO("deid: %d DICOM file%s de-identified, %d bad file%s skipped, %d other file%s ignored: %s -> %s",
                 l.n - (int)bad32, l.n - bad32 == 1 ? "" : "s", (int)bad32, bad32 == 1 ? "" : "s", skipped,
                 skipped == 1 ? "" : "s", in, out);
    list_free(&l);
    if (have_map) csv_free(&map);
    free(secret);
    if (rc) return own ? cli_report("deid", rc) : H19_EXIT_ERROR;
    return H19_EXIT_OK;
}
