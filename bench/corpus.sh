# Sourced by the benchmarks that use the layout corpus (testdata/stable/ programs, zlib/zstd/lz4
# built from crates.io sources by the test suite). Needs ROOT; defines CORPUS, lookup, LIBFLAG
# and USES, and builds the corpus once (cached under target/spacer-corpus/stable/).
cargo test --release --quiet --test stable_layout -- --ignored build_corpus_only >/dev/null || {
    echo "building the library corpus failed; to see why, run:" >&2
    echo "  cargo test --release --test stable_layout -- --ignored build_corpus_only" >&2
    exit 1
}
# Libraries built with -ffunction-sections -fdata-sections; CORPUS_PLAIN: with plain -O2.
CORPUS=$ROOT/target/spacer-corpus/stable/corpus.tsv
CORPUS_SECTIONS=$CORPUS
CORPUS_PLAIN=$ROOT/target/spacer-corpus/stable/corpus-plain.tsv
for c in "$CORPUS" "$CORPUS_PLAIN"; do [ -f "$c" ] || { echo "no $c" >&2; exit 1; }; done

# lookup NAME VERSION COLUMN: 4 = library directory, 5 = include directory
lookup() { awk -F'\t' -v n="$1" -v v="$2" -v c="$3" '$1 == n && $3 == v { print $c }' "$CORPUS"; }

# Link order, each library's -l flag, and the libraries each program uses.
LIBS="zlib zstd lz4 lua sqlite"
declare -A LIBFLAG=([zlib]=-lz [zstd]=-lzstd [lz4]=-llz4 [lua]=-llua [sqlite]=-lsqlite3)
declare -A USES=([zall]="zlib zstd lz4" [zlz4]="zlib lz4" [zstdlz4]="zstd lz4" [zonly]="zlib"
    [zlua]="zlib lua" [zsql]="zlib sqlite" [zcxx]="zlib")
