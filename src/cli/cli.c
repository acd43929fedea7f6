/* cli.c — see include/hust19/cli.h. */
#include "hust19/cli.h"
#include "hust19/err.h"
#include "hust19/log.h"

#include <stdio.h>
#include <string.h>

static int in_list(const char *const *list, const char *s)
{
    for (int i = 0; list && list[i]; i++)
        if (strcmp(list[i], s) == 0) return 1;
    return 0;
}

int cli_parse(int argc, char **argv, const char *const *value_opts, const char *const *flag_opts,
              cli_args *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            out->help = 1;
            continue;
        }
        if (!strcmp(a, "--set") || !strncmp(a, "--set=", 6)) {
            const char *v = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) return h19_fail(H19_EARG, "--set needs key.path=value");
            if (out->nset >= CLI_MAX_SET) return h19_fail(H19_EARG, "too many --set options");
            out->sets[out->nset++] = v;
            continue;
        }
        if (!strcmp(a, "--log-level")) {
            if (i + 1 >= argc) return h19_fail(H19_EARG, "--log-level needs a value");
            h19_log_level l = H19_LOG_INFO;
            H19_TRY(h19_log_parse_level(argv[++i], &l));
            h19_log_set_level(l);
            continue;
        }
        if (a[0] == '-' && a[1] == '-') {
            char name[128];
            const char *eq = strchr(a, '=');
            size_t n = eq ? (size_t)(eq - a) : strlen(a);
            if (n >= sizeof name) n = sizeof name - 1;
            memcpy(name, a, n);
            name[n] = 0;
            if (out->nopt >= CLI_MAX_OPT) return h19_fail(H19_EARG, "too many options");
            if (in_list(value_opts, name)) {
                const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
                if (!v) return h19_fail(H19_EARG, "%s needs a value", name);
                out->opt_name[out->nopt] = in_list(value_opts, name) ? value_opts[0] : NULL;
                for (int k = 0; value_opts[k]; k++)
                    if (!strcmp(value_opts[k], name)) out->opt_name[out->nopt] = value_opts[k];
                out->opt_val[out->nopt++] = v;
                continue;
            }
            if (!eq && in_list(flag_opts, name)) {
                for (int k = 0; flag_opts[k]; k++)
                    if (!strcmp(flag_opts[k], name)) out->opt_name[out->nopt] = flag_opts[k];
                out->opt_val[out->nopt++] = NULL;
                continue;
            }
            return h19_fail(H19_EARG, "unknown option '%s' (see --help)", a);
        }
        if (out->npos >= CLI_MAX_POS) return h19_fail(H19_EARG, "too many arguments");
        out->pos[out->npos++] = a;
    }
    return H19_OK;
}

const char *cli_opt(const cli_args *a, const char *name)
{
    const char *v = NULL;
    for (int i = 0; i < a->nopt; i++)
        if (a->opt_name[i] && !strcmp(a->opt_name[i], name)) v = a->opt_val[i];
    return v;
}

int cli_flag(const cli_args *a, const char *name)
{
    for (int i = 0; i < a->nopt; i++)
        if (a->opt_name[i] && !strcmp(a->opt_name[i], name)) return 1;
    return 0;
}

int cli_load_job(const cli_args *a, const char *path, cfg_doc *doc)
{
    H19_TRY(cfg_load(doc, path));
    for (int i = 0; i < a->nset; i++) {
        int rc = cfg_set(doc, a->sets[i]);
        if (rc) {
            cfg_free(doc);
            return rc;
        }
    }
    return H19_OK;
}

int cli_report(const char *cmd, int rc)
{
    if (rc == H19_OK) return H19_EXIT_OK;
    if (rc == H19_ESTOP) {
        h19_log(H19_LOG_WARN, "%s: %s", cmd, h19_errmsg());
        return H19_EXIT_REQUEUE;
    }
    h19_log_all(H19_LOG_ERROR, "hust19 %s: %s", cmd, h19_errmsg());
    return rc == H19_EARG ? H19_EXIT_USAGE : H19_EXIT_ERROR;
}
