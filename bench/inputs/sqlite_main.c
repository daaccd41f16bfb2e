/* Benchmark driver for SQLite: builds an in-memory database and prints the
 * results of a few queries. */
#include <stdio.h>
#include "sqlite3.h"

static int print_row(void *unused, int ncol, char **vals, char **names)
{
    (void)unused;
    (void)names;
    for (int i = 0; i < ncol; i++) printf("%s%s", i ? " | " : "", vals[i] ? vals[i] : "NULL");
    printf("\n");
    return 0;
}

int main(void)
{
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
        fprintf(stderr, "open: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    static const char *const sql[] = {
        "SELECT sqlite_version() IS NOT NULL;",
        "CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);",
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)"
        " INSERT INTO t(grp, name, val) SELECT i % 7, printf('item-%05d', i), (i * 37 % 1000) / 10.0 FROM c;",
        "CREATE INDEX t_grp ON t(grp, val);",
        "SELECT grp, count(*), printf('%.2f', avg(val)), max(name) FROM t GROUP BY grp ORDER BY grp;",
        "SELECT name FROM t WHERE grp = 3 AND val > 99 ORDER BY id LIMIT 3;",
        "SELECT json_object('n', count(*), 's', printf('%.1f', sum(val))) FROM t;",
        "SELECT group_concat(upper(substr(name, 1, 4)) || id, ',') FROM (SELECT * FROM t ORDER BY val DESC, id LIMIT 4);",
        "SELECT total_changes();",
    };
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
        char *err = NULL;
        if (sqlite3_exec(db, sql[i], print_row, NULL, &err) != SQLITE_OK) {
            fprintf(stderr, "sql error: %s\n", err);
            sqlite3_free(err);
            sqlite3_close(db);
            return 1;
        }
    }
    sqlite3_close(db);
    return 0;
}
