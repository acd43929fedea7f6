/* cfg.h — strict YAML configuration (job files, model files, the CF catalog) over libyaml.
 *
 * A document is loaded into a tree of maps, sequences and scalars, each node remembering its line
 * and column. Readers fetch keys with typed getters that check type and range and mark the key as
 * used; cfg_check_unused() then reports the first key that nothing asked for, so a misspelt key is
 * an error ("job.yaml:12:3: unknown key 'lerning_rate' in 'train' (known: lr, decay, ...)") and
 * never silently ignored.
 *
 *     cfg_doc doc;
 *     if (cfg_load(&doc, "jobs/demo.yaml")) { report h19_errmsg(); }
 *     cfg_set(&doc, "cv.repeats=2");          // --set overrides, before reading
 *     cfg_node *cv = cfg_map(&doc, doc.root, "cv", 1);
 *     long repeats; cfg_int(&doc, cv, "repeats", 10, 1, 1000, &repeats);
 *     ...
 *     cfg_check_unused(&doc);
 *     cfg_free(&doc);
 *
 * Nodes are owned by the document; pointers returned by getters are borrowed until cfg_free.
 */
#ifndef HUST19_CFG_H
#define HUST19_CFG_H

#include <stdbool.h>

typedef enum { CFG_SCALAR = 0, CFG_MAP = 1, CFG_SEQ = 2 } cfg_kind;

typedef struct cfg_node cfg_node;
struct cfg_node {
    cfg_kind kind;
    char *value;        /* CFG_SCALAR: the text; NULL otherwise */
    int quoted;         /* scalar was quoted in the source (so "1" is a string) */
    int line, col;      /* 1-based position in the file */
    int n;              /* number of children */
    char **keys;        /* CFG_MAP: key of each child */
    int *key_line, *key_col;
    cfg_node **items;   /* children */
    unsigned char *used; /* CFG_MAP: child i was read */
    char *asked;        /* CFG_MAP: comma-separated keys readers asked for (for hints) */
    const char *path;   /* dotted path from the root ("train.adam"), owned by the doc */
};

typedef struct {
    char *file;     /* path as given */
    cfg_node *root; /* a CFG_MAP (an empty file is an empty map) */
} cfg_doc;

/* Load a file; on error (missing, YAML syntax, duplicate key) returns H19_EIO/H19_ECONFIG. */
int cfg_load(cfg_doc *doc, const char *path);
/* Parse YAML from memory (name is used in messages). */
int cfg_load_string(cfg_doc *doc, const char *name, const char *text);
void cfg_free(cfg_doc *doc);

/* Apply a --set override "a.b.c=value": creates missing maps, replaces a scalar. The value is
 * parsed as a YAML flow scalar or flow collection ("[1, 2]"). */
int cfg_set(cfg_doc *doc, const char *assignment);

/* Look up key in map without marking it (NULL if absent or map is NULL). */
cfg_node *cfg_peek(cfg_node *map, const char *key);
/* Look up key and mark it used. NULL if absent. */
cfg_node *cfg_find(cfg_node *map, const char *key);

/* Typed getters. If the key is absent: return the default (or an error when required=1 for
 * cfg_map/cfg_seq/cfg_str_req). All mark the key as used. */
cfg_node *cfg_map(cfg_doc *d, cfg_node *map, const char *key, int required, int *rc);
cfg_node *cfg_seq(cfg_doc *d, cfg_node *map, const char *key, int required, int *rc);
int cfg_int(cfg_doc *d, cfg_node *map, const char *key, long def, long min, long max, long *out);
int cfg_double(cfg_doc *d, cfg_node *map, const char *key, double def, double min, double max,
               double *out);
int cfg_bool(cfg_doc *d, cfg_node *map, const char *key, bool def, bool *out);
/* *out is borrowed from the doc (or def). required=1: absent is an error. */
int cfg_str(cfg_doc *d, cfg_node *map, const char *key, const char *def, int required,
            const char **out);
/* Choice among a NULL-terminated list; *out is the index. */
int cfg_enum(cfg_doc *d, cfg_node *map, const char *key, const char *const *choices, int def,
             int *out);

/* Scalar conversions of a node (for sequence items). */
int cfg_node_double(cfg_doc *d, cfg_node *n, double *out);
int cfg_node_int(cfg_doc *d, cfg_node *n, long *out);
int cfg_node_str(cfg_doc *d, cfg_node *n, const char **out);

/* Mark a whole subtree as read (for sections handled elsewhere). */
void cfg_mark_all(cfg_node *n);
/* Error on the first key (depth first, file order) that nothing read. */
int cfg_check_unused(cfg_doc *d);

/* Error helper: "file:line:col: message" (returns H19_ECONFIG). */
int cfg_error(cfg_doc *d, cfg_node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
