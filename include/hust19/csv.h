/* csv.h — a strict RFC 4180 CSV reader (UTF-8, comma, double-quote quoting, CRLF or LF).
 *
 * Reads a whole file into memory and splits it into records of fields. Quoted fields may contain
 * commas, quotes ("") and newlines. A quote that never closes (a truncated file) is an error naming
 * the line where the field began. Line numbers are 1-based physical lines of the start of each record.
 *
 *     csv_table t;
 *     if (csv_read(path, &t)) ... h19_errmsg();
 *     for (int r = 0; r < t.nrows; r++) ... csv_cell(&t, r, c) ...   // r = 0 is the header
 *     csv_free(&t);
 *
 * All strings are owned by the table (one buffer); csv_cell returns a borrowed pointer.
 */
#ifndef HUST19_CSV_H
#define HUST19_CSV_H

#include <stddef.h>

typedef struct {
    char *path;
    char *buf;        /* unescaped field text, NUL-separated */
    char **cells;     /* all fields, row-major, nfields[r] per row */
    int *row_start;   /* index of row r's first cell in cells */
    int *nfields;     /* fields per row */
    int *line;        /* source line of row r */
    int nrows;
} csv_table;

/* strict_width: every row must have as many fields as the header (else an error naming the line,
 * the count found and expected). A UTF-8 BOM is skipped. Blank lines at the end are ignored. */
int csv_read(const char *path, int strict_width, csv_table *t);
int csv_parse(const char *name, const char *text, size_t len, int strict_width, csv_table *t);
void csv_free(csv_table *t);
static inline const char *csv_cell(const csv_table *t, int row, int col)
{
    return col < t->nfields[row] ? t->cells[t->row_start[row] + col] : "";
}
/* Header column index of name, or -1. */
int csv_column(const csv_table *t, const char *name);

/* Writing: quote a field when needed. */
#include <stdio.h>
void csv_write_field(FILE *f, const char *s);

#endif
