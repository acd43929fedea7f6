/* csv.c — see include/hust19/csv.h. One pass over the bytes; fields are unescaped into a buffer of
 * the same size as the input (unescaping only shrinks). */
#include "hust19/csv.h"
#include "hust19/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void csv_free(csv_table *t)
{
    if (!t) return;
    free(t->path);
    free(t->buf);
    free(t->cells);
    free(t->row_start);
    free(t->nfields);
    free(t->line);
    memset(t, 0, sizeof *t);
}

int csv_column(const csv_table *t, const char *name)
{
    if (t->nrows < 1) return -1;
    for (int c = 0; c < t->nfields[0]; c++)
        if (strcmp(csv_cell(t, 0, c), name) == 0) return c;
    return -1;
}

static int grow(void **p, size_t elem, int *cap, int need)
{
    if (need <= *cap) return H19_OK;
    int nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *q = h19_realloc(*p, elem * (size_t)nc);
    if (!q) return H19_ENOMEM;
    *p = q;
    *cap = nc;
    return H19_OK;
}

int csv_parse(const char *name, const char *text, size_t len, int strict_width, csv_table *t)
{
    memset(t, 0, sizeof *t);
    t->path = h19_strdup(name);
    t->buf = h19_malloc(len + 1);
    if (!t->path || !t->buf) { csv_free(t); return H19_ENOMEM; }
    size_t i = 0, o = 0;
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF)
        i = 3;
    int line = 1, ncells = 0, cap_cells = 0, cap_rows = 0;
    size_t *cell_off = NULL; /* offsets into buf until the end (buf may not move, but keep simple) */
    int rc = H19_OK;
    while (i < len) {
        /* skip blank lines (only at record starts) */
        if (text[i] == '\n' || (text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')) {
            i += text[i] == '\r' ? 2 : 1;
            line++;
            continue;
        }
        if (t->nrows + 1 > cap_rows) {
            int nc = cap_rows ? cap_rows * 2 : 256;
            int *a = h19_realloc(t->row_start, sizeof(int) * (size_t)nc);
            if (!a) { rc = H19_ENOMEM; break; }
            t->row_start = a;
            int *b = h19_realloc(t->nfields, sizeof(int) * (size_t)nc);
            if (!b) { rc = H19_ENOMEM; break; }
            t->nfields = b;
            int *c = h19_realloc(t->line, sizeof(int) * (size_t)nc);
            if (!c) { rc = H19_ENOMEM; break; }
            t->line = c;
            cap_rows = nc;
        }
        t->row_start[t->nrows] = ncells;
        t->line[t->nrows] = line;
        int nf = 0, end_of_record = 0;
        while (!end_of_record) {
            int cc = cap_cells;
            if ((rc = grow((void **)&cell_off, sizeof(size_t), &cc, ncells + 1))) break;
            cap_cells = cc;
            cell_off[ncells++] = o;
            nf++;
            if (i < len && text[i] == '"') {
                int qline = line;
                i++;
                for (;;) {
                    if (i >= len) {
                        rc = h19_fail(H19_EFORMAT,
                                      "%s:%d: quoted field never closed (file truncated?)", name, qline);
                        break;
                    }
                    char ch = text[i];
                    if (ch == '"') {
                        if (i + 1 < len && text[i + 1] == '"') {
                            t->buf[o++] = '"';
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    if (ch == '\n') line++;
                    t->buf[o++] = ch;
                    i++;
                }
                if (rc) break;
                if (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                    rc = h19_fail(H19_EFORMAT, "%s:%d: unexpected character after a closing quote",
                                  name, line);
                    break;
                }
            } else {
                while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                    if (text[i] == '"') {
                        rc = h19_fail(H19_EFORMAT, "%s:%d: quote inside an unquoted field", name, line);
                        break;
                    }
                    t->buf[o++] = text[i++];
                }
                if (rc) break;
            }
            t->buf[o++] = 0;
            if (i >= len) {
                end_of_record = 1;
            } else if (text[i] == ',') {
                i++;
                if (i >= len) { /* trailing comma at EOF: one more empty field */
                    int c2 = cap_cells;
                    if ((rc = grow((void **)&cell_off, sizeof(size_t), &c2, ncells + 1))) break;
                    cap_cells = c2;
                    cell_off[ncells++] = o;
                    t->buf[o++] = 0;
                    nf++;
                    end_of_record = 1;
                }
            } else {
                if (text[i] == '\r') i++;
                if (i < len && text[i] == '\n') i++;
                line++;
                end_of_record = 1;
            }
        }
        if (rc) break;
        t->nfields[t->nrows] = nf;
        t->nrows++;
        if (strict_width && t->nrows > 1 && nf != t->nfields[0]) {
            rc = h19_fail(H19_EFORMAT, "%s:%d: %d fields, expected %d as in the header", name,
                          t->line[t->nrows - 1], nf, t->nfields[0]);
            break;
        }
    }
    if (!rc) {
        t->cells = h19_malloc(sizeof(char *) * (size_t)(ncells ? ncells : 1));
        if (!t->cells) rc = H19_ENOMEM;
        for (int k = 0; !rc && k < ncells; k++) t->cells[k] = t->buf + cell_off[k];
        if (!rc && t->nrows == 0) rc = h19_fail(H19_EFORMAT, "%s: empty file (no header)", name);
    }
    free(cell_off);
    if (rc) csv_free(t);
    return rc;
}

int csv_read(const char *path, int strict_width, csv_table *t)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    if (!f) return h19_fail(H19_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END)) { fclose(f); return h19_fail(H19_EIO, "%s: cannot seek", path); }
    long n = ftell(f);
    if (n < 0) { fclose(f); return h19_fail(H19_EIO, "%s: cannot size", path); }
    rewind(f);
    char *text = h19_malloc((size_t)n + 1);
    if (!text) { fclose(f); return H19_ENOMEM; }
    size_t got = fread(text, 1, (size_t)n, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != (size_t)n) {
        free(text);
        return h19_fail(H19_EIO, "%s: read error", path);
    }
    int rc = csv_parse(path, text, (size_t)n, strict_width, t);
    free(text);
    return rc;
}

void csv_write_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
