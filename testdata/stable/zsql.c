/* Version-stable layout test program: an in-memory SQLite database (tables, an index, joins,
 * aggregates, a recursive query, string functions) whose query output is compressed and
 * restored with zlib. */
#include "stable.h"
#include "rt_zlib.h"
#include "sqlite3.h"

static char out[1 << 16];
static size_t out_n;

static int row(void *unused, int n, char **values, char **names)
{
    (void)unused;
    (void)names;
    for (int i = 0; i < n; i++)
        out_n += (size_t)snprintf(out + out_n, sizeof out - out_n, "%s%s", i ? "|" : "",
                                  values[i] ? values[i] : "NULL");
    out_n += (size_t)snprintf(out + out_n, sizeof out - out_n, "\n");
    return out_n + 256 > sizeof out;
}

static const char sql[] =
    "CREATE TABLE word(id INTEGER PRIMARY KEY, w TEXT, n INTEGER);"
    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)"
    "  INSERT INTO word(w, n) SELECT printf('w%03d', (i * 7919) % 997), i % 37 FROM c;"
    "CREATE INDEX word_w ON word(w);"
    "CREATE TABLE tag(n INTEGER PRIMARY KEY, name TEXT);"
    "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 36)"
    "  INSERT INTO tag SELECT i, upper(hex(i * 31)) FROM c;"
    "SELECT count(*), sum(n), min(w), max(w) FROM word;"
    "SELECT t.name, count(*), group_concat(DISTINCT substr(w.w, 2, 1)) FROM word w"
    "  JOIN tag t ON t.n = w.n GROUP BY t.name ORDER BY count(*) DESC, t.name LIMIT 12;"
    "SELECT w, count(*) AS c FROM word GROUP BY w HAVING c > 3 ORDER BY c DESC, w LIMIT 10;"
    "UPDATE word SET n = n * 2 WHERE id % 5 = 0;"
    "DELETE FROM word WHERE w LIKE 'w1%';"
    "SELECT count(*), total(n), avg(length(w)) FROM word;";

int main(void)
{
    sqlite3 *db;
    char *err = NULL;
    printf("zlib %s\n", zlibVersion());
    printf("sqlite %s\n", sqlite3_libversion());
    int ok = sqlite3_open(":memory:", &db) == SQLITE_OK;
    if (ok && sqlite3_exec(db, sql, row, NULL, &err) != SQLITE_OK) {
        printf("sqlite error: %s\n", err ? err : "?");
        ok = 0;
    }
    sqlite3_free(err);
    sqlite3_close(db);
    if (ok) {
        printf("sqlite output: %zu bytes, fnv1a %08x, first line: %.60s",
               out_n, (unsigned)fnv1a((unsigned char *)out, out_n), out);
        fputs(out, stdout);
        ok = zlib_roundtrip((const unsigned char *)out, out_n);
    }
    puts(ok ? "all round trips ok" : "FAILED");
    return ok ? 0 : 1;
}
