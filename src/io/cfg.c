/* cfg.c — strict YAML configuration over libyaml's event API (see include/hust19/cfg.h). */
#include "hust19/cfg.h"
#include "hust19/err.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static cfg_node *node_new(cfg_kind kind, int line, int col)
{
    cfg_node *n = h19_calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->line = line;
    n->col = col;
    return n;
}

static void node_free(cfg_node *n)
{
    if (!n) return;
    for (int i = 0; i < n->n; i++) {
        node_free(n->items[i]);
        if (n->keys) free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->key_line);
    free(n->key_col);
    free(n->used);
    free(n->asked);
    free(n->value);
    free((char *)n->path);
    free(n);
}

static int node_push(cfg_node *parent, char *key, int kl, int kc, cfg_node *child)
{
    int m = parent->n + 1;
    cfg_node **items = h19_realloc(parent->items, sizeof *items * (size_t)m);
    if (!items) return H19_ENOMEM;
    parent->items = items;
    if (parent->kind == CFG_MAP) {
        char **keys = h19_realloc(parent->keys, sizeof *keys * (size_t)m);
        if (!keys) return H19_ENOMEM;
        parent->keys = keys;
        int *l = h19_realloc(parent->key_line, sizeof *l * (size_t)m);
        if (!l) return H19_ENOMEM;
        parent->key_line = l;
        int *c = h19_realloc(parent->key_col, sizeof *c * (size_t)m);
        if (!c) return H19_ENOMEM;
        parent->key_col = c;
        unsigned char *u = h19_realloc(parent->used, (size_t)m);
        if (!u) return H19_ENOMEM;
        parent->used = u;
        keys[parent->n] = key;
        l[parent->n] = kl;
        c[parent->n] = kc;
        u[parent->n] = 0;
    }
    items[parent->n] = child;
    parent->n = m;
    return H19_OK;
}

static char *join_path(const char *base, const char *key)
{
    size_t nb = base ? strlen(base) : 0, nk = strlen(key);
    char *p = h19_malloc(nb + nk + 2);
    if (!p) return NULL;
    if (nb) {
        memcpy(p, base, nb);
        p[nb] = '.';
        memcpy(p + nb + 1, key, nk + 1);
    } else {
        memcpy(p, key, nk + 1);
    }
    return p;
}

/* Recursive descent over events. On entry the start event of the node has been consumed into ev. */
static int parse_node(yaml_parser_t *ps, yaml_event_t *ev, const char *name, const char *path,
                      cfg_node **out, int depth)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    if (depth > 64) return h19_fail(H19_ECONFIG, "%s:%d:%d: nesting deeper than 64", name, line, col);
    if (ev->type == YAML_ALIAS_EVENT)
        return h19_fail(H19_ECONFIG, "%s:%d:%d: YAML aliases are not supported", name, line, col);
    if (ev->type == YAML_SCALAR_EVENT) {
        cfg_node *n = node_new(CFG_SCALAR, line, col);
        if (!n) return H19_ENOMEM;
        n->value = h19_malloc(ev->data.scalar.length + 1);
        if (!n->value) {
            node_free(n);
            return H19_ENOMEM;
        }
        memcpy(n->value, ev->data.scalar.value, ev->data.scalar.length);
        n->value[ev->data.scalar.length] = 0;
        n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        n->path = path ? h19_strdup(path) : h19_strdup("");
        *out = n;
        return H19_OK;
    }
    int is_map = ev->type == YAML_MAPPING_START_EVENT;
    if (!is_map && ev->type != YAML_SEQUENCE_START_EVENT)
        return h19_fail(H19_ECONFIG, "%s:%d:%d: unexpected YAML event", name, line, col);
    cfg_node *n = node_new(is_map ? CFG_MAP : CFG_SEQ, line, col);
    if (!n) return H19_ENOMEM;
    n->path = h19_strdup(path ? path : "");
    int rc = H19_OK;
    for (;;) {
        yaml_event_t e;
        if (!yaml_parser_parse(ps, &e)) {
            rc = h19_fail(H19_ECONFIG, "%s:%d:%d: YAML syntax error: %s", name,
                          (int)ps->problem_mark.line + 1, (int)ps->problem_mark.column + 1,
                          ps->problem ? ps->problem : "?");
            break;
        }
        if (e.type == YAML_MAPPING_END_EVENT || e.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&e);
            break;
        }
        if (is_map) {
            if (e.type != YAML_SCALAR_EVENT) {
                rc = h19_fail(H19_ECONFIG, "%s:%d:%d: a key must be a plain scalar", name,
                              (int)e.start_mark.line + 1, (int)e.start_mark.column + 1);
                yaml_event_delete(&e);
                break;
            }
            int kl = (int)e.start_mark.line + 1, kc = (int)e.start_mark.column + 1;
            char *key = h19_strdup((const char *)e.data.scalar.value);
            yaml_event_delete(&e);
            if (!key) { rc = H19_ENOMEM; break; }
            for (int i = 0; i < n->n; i++)
                if (strcmp(n->keys[i], key) == 0) {
                    rc = h19_fail(H19_ECONFIG, "%s:%d:%d: duplicate key '%s' (first at line %d)", name,
                                  kl, kc, key, n->key_line[i]);
                    break;
                }
            if (rc) { free(key); break; }
            yaml_event_t v;
            if (!yaml_parser_parse(ps, &v)) {
                free(key);
                rc = h19_fail(H19_ECONFIG, "%s:%d:%d: YAML syntax error: %s", name,
                              (int)ps->problem_mark.line + 1, (int)ps->problem_mark.column + 1,
                              ps->problem ? ps->problem : "?");
                break;
            }
            char *cpath = join_path(path, key);
            cfg_node *child = NULL;
            rc = cpath ? parse_node(ps, &v, name, cpath, &child, depth + 1) : H19_ENOMEM;
            free(cpath);
            yaml_event_delete(&v);
            if (rc) { free(key); break; }
            rc = node_push(n, key, kl, kc, child);
            if (rc) { free(key); node_free(child); break; }
        } else {
            char idx[32];
            snprintf(idx, sizeof idx, "%d", n->n);
            char *cpath = join_path(path, idx);
            cfg_node *child = NULL;
            rc = cpath ? parse_node(ps, &e, name, cpath, &child, depth + 1) : H19_ENOMEM;
            free(cpath);
            yaml_event_delete(&e);
            if (rc) break;
            rc = node_push(n, NULL, 0, 0, child);
            if (rc) { node_free(child); break; }
        }
    }
    if (rc) {
        node_free(n);
        return rc;
    }
    *out = n;
    return H19_OK;
}

static int parse_doc(yaml_parser_t *ps, const char *name, cfg_node **root)
{
    *root = NULL;
    int rc = H19_OK, done = 0;
    while (!done) {
        yaml_event_t e;
        if (!yaml_parser_parse(ps, &e))
            return h19_fail(H19_ECONFIG, "%s:%d:%d: YAML syntax error: %s", name,
                            (int)ps->problem_mark.line + 1, (int)ps->problem_mark.column + 1,
                            ps->problem ? ps->problem : "?");
        switch (e.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT: break;
        case YAML_DOCUMENT_START_EVENT:
            if (*root) rc = h19_fail(H19_ECONFIG, "%s:%d: only one YAML document is allowed", name,
                                     (int)e.start_mark.line + 1);
            break;
        case YAML_STREAM_END_EVENT: done = 1; break;
        default:
            if (*root) { rc = h19_fail(H19_ECONFIG, "%s: unexpected content", name); break; }
            rc = parse_node(ps, &e, name, "", root, 0);
            break;
        }
        yaml_event_delete(&e);
        if (rc) break;
    }
    if (!rc && !*root) {
        *root = node_new(CFG_MAP, 1, 1);
        if (!*root) return H19_ENOMEM;
        (*root)->path = h19_strdup("");
    }
    if (!rc && (*root)->kind != CFG_MAP)
        rc = h19_fail(H19_ECONFIG, "%s:%d:%d: the document must be a mapping of keys", name,
                      (*root)->line, (*root)->col);
    if (rc) {
        node_free(*root);
        *root = NULL;
    }
    return rc;
}

int cfg_load_string(cfg_doc *doc, const char *name, const char *text)
{
    memset(doc, 0, sizeof *doc);
    doc->file = h19_strdup(name);
    if (!doc->file) return H19_ENOMEM;
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps)) return h19_fail(H19_ENOMEM, "cannot initialise YAML parser");
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, strlen(text));
    int rc = parse_doc(&ps, name, &doc->root);
    yaml_parser_delete(&ps);
    if (rc) {
        free(doc->file);
        doc->file = NULL;
    }
    return rc;
}

int cfg_load(cfg_doc *doc, const char *path)
{
    memset(doc, 0, sizeof *doc);
    FILE *f = fopen(path, "rb");
    if (!f) return h19_fail(H19_EIO, "%s: cannot open: %s", path, strerror(errno));
    doc->file = h19_strdup(path);
    if (!doc->file) { fclose(f); return H19_ENOMEM; }
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps)) {
        fclose(f);
        return h19_fail(H19_ENOMEM, "cannot initialise YAML parser");
    }
    yaml_parser_set_input_file(&ps, f);
    int rc = parse_doc(&ps, path, &doc->root);
    yaml_parser_delete(&ps);
    fclose(f);
    if (rc) {
        free(doc->file);
        doc->file = NULL;
    }
    return rc;
}

void cfg_free(cfg_doc *doc)
{
    if (!doc) return;
    node_free(doc->root);
    free(doc->file);
    doc->root = NULL;
    doc->file = NULL;
}

int cfg_error(cfg_doc *d, cfg_node *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n && n->line > 0)
        return h19_fail(H19_ECONFIG, "%s:%d:%d: %s", d->file ? d->file : "?", n->line, n->col, msg);
    return h19_fail(H19_ECONFIG, "%s: %s", d->file ? d->file : "?", msg);
}

static void note_asked(cfg_node *map, const char *key)
{
    if (!map || map->kind != CFG_MAP) return;
    size_t nk = strlen(key);
    if (map->asked) {
        /* already listed? */
        const char *p = map->asked;
        while (p && *p) {
            const char *e = strchr(p, ',');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if (l == nk && strncmp(p, key, l) == 0) return;
            p = e ? e + 1 : NULL;
        }
    }
    size_t na = map->asked ? strlen(map->asked) : 0;
    char *s = realloc(map->asked, na + nk + 2);
    if (!s) return;
    if (na) s[na++] = ',';
    memcpy(s + na, key, nk + 1);
    map->asked = s;
}

cfg_node *cfg_peek(cfg_node *map, const char *key)
{
    if (!map || map->kind != CFG_MAP) return NULL;
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0) return map->items[i];
    return NULL;
}

cfg_node *cfg_find(cfg_node *map, const char *key)
{
    if (!map || map->kind != CFG_MAP) return NULL;
    note_asked(map, key);
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0) {
            map->used[i] = 1;
            return map->items[i];
        }
    return NULL;
}

static const char *kind_name(cfg_kind k)
{
    return k == CFG_MAP ? "a mapping" : k == CFG_SEQ ? "a list" : "a scalar";
}

static int missing(cfg_doc *d, cfg_node *map, const char *key)
{
    if (map && map->path && *map->path)
        return cfg_error(d, map, "missing required key '%s' in '%s'", key, map->path);
    return cfg_error(d, map, "missing required key '%s'", key);
}

cfg_node *cfg_map(cfg_doc *d, cfg_node *map, const char *key, int required, int *rc)
{
    cfg_node *n = cfg_find(map, key);
    *rc = H19_OK;
    if (!n) {
        if (required) *rc = missing(d, map, key);
        return NULL;
    }
    if (n->kind == CFG_SCALAR && n->value && !n->quoted &&
        (n->value[0] == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0))
        return NULL; /* "key:" with nothing = empty section */
    if (n->kind != CFG_MAP) {
        *rc = cfg_error(d, n, "'%s' must be a mapping, found %s", n->path, kind_name(n->kind));
        return NULL;
    }
    return n;
}

cfg_node *cfg_seq(cfg_doc *d, cfg_node *map, const char *key, int required, int *rc)
{
    cfg_node *n = cfg_find(map, key);
    *rc = H19_OK;
    if (!n) {
        if (required) *rc = missing(d, map, key);
        return NULL;
    }
    if (n->kind != CFG_SEQ) {
        *rc = cfg_error(d, n, "'%s' must be a list, found %s", n->path, kind_name(n->kind));
        return NULL;
    }
    return n;
}

int cfg_node_str(cfg_doc *d, cfg_node *n, const char **out)
{
    if (n->kind != CFG_SCALAR)
        return cfg_error(d, n, "'%s' must be a scalar, found %s", n->path, kind_name(n->kind));
    *out = n->value;
    return H19_OK;
}

int cfg_node_double(cfg_doc *d, cfg_node *n, double *out)
{
    if (n->kind != CFG_SCALAR)
        return cfg_error(d, n, "'%s' must be a number, found %s", n->path, kind_name(n->kind));
    const char *s = n->value;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (n->quoted || end == s || *end || errno == ERANGE || !isfinite(v))
        return cfg_error(d, n, "'%s' must be a finite number, found '%s'", n->path, s);
    *out = v;
    return H19_OK;
}

int cfg_node_int(cfg_doc *d, cfg_node *n, long *out)
{
    if (n->kind != CFG_SCALAR)
        return cfg_error(d, n, "'%s' must be an integer, found %s", n->path, kind_name(n->kind));
    const char *s = n->value;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (n->quoted || end == s || *end || errno == ERANGE)
        return cfg_error(d, n, "'%s' must be an integer, found '%s'", n->path, s);
    *out = v;
    return H19_OK;
}

int cfg_int(cfg_doc *d, cfg_node *map, const char *key, long def, long min, long max, long *out)
{
    cfg_node *n = cfg_find(map, key);
    if (!n) {
        *out = def;
        return H19_OK;
    }
    long v = 0;
    H19_TRY(cfg_node_int(d, n, &v));
    if (v < min || v > max)
        return cfg_error(d, n, "'%s' = %ld is out of range [%ld, %ld]", n->path, v, min, max);
    *out = v;
    return H19_OK;
}

int cfg_double(cfg_doc *d, cfg_node *map, const char *key, double def, double min, double max,
               double *out)
{
    cfg_node *n = cfg_find(map, key);
    if (!n) {
        *out = def;
        return H19_OK;
    }
    double v = 0;
    H19_TRY(cfg_node_double(d, n, &v));
    if (v < min || v > max)
        return cfg_error(d, n, "'%s' = %g is out of range [%g, %g]", n->path, v, min, max);
    *out = v;
    return H19_OK;
}

int cfg_bool(cfg_doc *d, cfg_node *map, const char *key, bool def, bool *out)
{
    cfg_node *n = cfg_find(map, key);
    if (!n) {
        *out = def;
        return H19_OK;
    }
    if (n->kind == CFG_SCALAR && !n->quoted) {
        const char *s = n->value;
        if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) { *out = true; return 0; }
        if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) { *out = false; return 0; }
    }
    return cfg_error(d, n, "'%s' must be true or false, found '%s'", n->path,
                     n->kind == CFG_SCALAR ? n->value : kind_name(n->kind));
}

int cfg_str(cfg_doc *d, cfg_node *map, const char *key, const char *def, int required,
            const char **out)
{
    cfg_node *n = cfg_find(map, key);
    if (!n) {
        if (required) return missing(d, map, key);
        *out = def;
        return H19_OK;
    }
    return cfg_node_str(d, n, out);
}

int cfg_enum(cfg_doc *d, cfg_node *map, const char *key, const char *const *choices, int def,
             int *out)
{
    cfg_node *n = cfg_find(map, key);
    if (!n) {
        *out = def;
        return H19_OK;
    }
    const char *s = "";
    H19_TRY(cfg_node_str(d, n, &s));
    char list[512] = "";
    for (int i = 0; choices[i]; i++) {
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return H19_OK;
        }
        if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, choices[i], sizeof list - strlen(list) - 1);
    }
    return cfg_error(d, n, "'%s' = '%s' is not one of: %s", n->path, s, list);
}

void cfg_mark_all(cfg_node *n)
{
    if (!n) return;
    for (int i = 0; i < n->n; i++) {
        if (n->kind == CFG_MAP) n->used[i] = 1;
        cfg_mark_all(n->items[i]);
    }
}

static int check_unused(cfg_doc *d, cfg_node *n)
{
    if (!n) return H19_OK;
    for (int i = 0; i < n->n; i++) {
        if (n->kind == CFG_MAP && !n->used[i]) {
            char where[256] = "";
            if (n->path && *n->path) snprintf(where, sizeof where, " in '%s'", n->path);
            return h19_fail(H19_ECONFIG, "%s:%d:%d: unknown key '%s'%s (known: %s)", d->file,
                            n->key_line[i], n->key_col[i], n->keys[i], where,
                            n->asked ? n->asked : "none");
        }
        H19_TRY(check_unused(d, n->items[i]));
    }
    return H19_OK;
}

int cfg_check_unused(cfg_doc *d) { return check_unused(d, d->root); }

int cfg_set(cfg_doc *doc, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return h19_fail(H19_EARG, "--set '%s': expected key.path=value", assignment);
    size_t klen = (size_t)(eq - assignment);
    char *keypath = h19_malloc(klen + 1);
    if (!keypath) return H19_ENOMEM;
    memcpy(keypath, assignment, klen);
    keypath[klen] = 0;
    /* Parse the value as a one-key YAML document so types and flow lists work. */
    const char *val = eq + 1;
    size_t nv = strlen(val);
    char *text = h19_malloc(nv + 8);
    if (!text) { free(keypath); return H19_ENOMEM; }
    snprintf(text, nv + 8, "v: %s\n", val);
    cfg_doc tmp;
    char name[300];
    snprintf(name, sizeof name, "--set %.200s", keypath);
    int rc = cfg_load_string(&tmp, name, text);
    free(text);
    if (rc) { free(keypath); return rc; }
    cfg_node *value = tmp.root->n == 1 ? tmp.root->items[0] : NULL;
    if (!value) {
        /* "key=" gives an empty scalar */
        value = node_new(CFG_SCALAR, 0, 0);
        if (value) value->value = h19_strdup("");
    } else {
        tmp.root->items[0] = NULL;
        tmp.root->n = 0;
        free(tmp.root->keys[0]);
    }
    cfg_free(&tmp);
    if (!value) { free(keypath); return H19_ENOMEM; }
    value->line = value->col = 0; /* overrides have no place in the file */

    cfg_node *cur = doc->root;
    char *save = NULL, *tok = strtok_r(keypath, ".", &save);
    rc = H19_OK;
    while (tok) {
        char *next = strtok_r(NULL, ".", &save);
        if (cur->kind != CFG_MAP) {
            rc = h19_fail(H19_EARG, "--set %s: '%s' is not a mapping", assignment, cur->path);
            break;
        }
        int found = -1;
        for (int i = 0; i < cur->n; i++)
            if (strcmp(cur->keys[i], tok) == 0) found = i;
        char *cpath = join_path(cur->path, tok);
        if (!cpath) { rc = H19_ENOMEM; break; }
        if (!next) {
            free((char *)value->path);
            value->path = cpath;
            if (found >= 0) {
                node_free(cur->items[found]);
                cur->items[found] = value;
            } else {
                char *k = h19_strdup(tok);
                if (!k || (rc = node_push(cur, k, 0, 0, value))) { free(k); rc = rc ? rc : H19_ENOMEM; break; }
            }
            value = NULL;
        } else if (found >= 0) {
            free(cpath);
            cur = cur->items[found];
        } else {
            cfg_node *m = node_new(CFG_MAP, 0, 0);
            char *k = h19_strdup(tok);
            if (!m || !k) { free(m); free(k); free(cpath); rc = H19_ENOMEM; break; }
            m->path = cpath;
            if ((rc = node_push(cur, k, 0, 0, m))) { free(k); node_free(m); break; }
            cur = m;
        }
        tok = next;
    }
    node_free(value);
    free(keypath);
    return rc;
}
