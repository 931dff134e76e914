"""`rag-dialogue index build|search`: build a passage index directory and query it."""

import json
import sys

# Index types and poolings are repeated here (not imported) so `rag-dialogue --help`
# does not pay for importing faiss, torch and transformers.
INDEX_TYPES = ("exact", "hnsw_sq8", "ivfpq")
POOLINGS = ("cls", "mean")


def add_subparser(subparsers):
    parser = subparsers.add_parser("index", help="build or search a dense passage index")
    commands = parser.add_subparsers(dest="index_command", metavar="{build,search}")
    commands.required = True

    build = commands.add_parser("build", help="encode a passage file into an index directory")
    build.add_argument("--passages", required=True, metavar="FILE",
                       help="passages as JSONL (id, title, text) or DPR psgs_w100.tsv")
    build.add_argument("--out", required=True, metavar="DIR",
                       help="index directory to write (replaced atomically)")
    build.add_argument("--encoder", default=None, metavar="NAME_OR_PATH",
                       help="transformers encoder: hub name or local dir "
                       "(default: the packaged all-MiniLM-L6-v2)")
    build.add_argument("--pooling", choices=POOLINGS, default="mean",
                       help="mean over tokens (sentence-transformers) or the [CLS] vector (DPR)")
    build.add_argument("--index-type", choices=INDEX_TYPES, default="exact",
                       help="exact inner product, HNSW over 8-bit codes, "
                       "or IVF-PQ with exact re-ranking")
    build.add_argument("--batch-size", type=int, default=64, metavar="N",
                       help="passages encoded per forward pass")
    build.add_argument("--skip-bad-lines", action="store_true",
                       help="pass over malformed lines of the passage file and report how many "
                       "and which at the end (default: stop at the first, naming its line)")
    build.set_defaults(func=_build)

    search = commands.add_parser("search", help="print the passages an index retrieves for a text")
    search.add_argument("index_dir", metavar="DIR", help="index directory made by `index build`")
    search.add_argument("text", help="query text (e.g. the dialogue history)")
    search.add_argument("-k", type=int, default=5, help="number of passages to return")
    search.add_argument("--json", action="store_true",
                        help='print a JSON list of {"id","title","text","score"}, best first')
    search.set_defaults(func=_search)


def _build(args) -> int:
    from rag_dialogue.retrieval.index import META_FILE
    from rag_dialogue.retrieval.passages import SkippedLines
    from rag_dialogue.retrieval.retriever import PASSAGES_FILE, build_index

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    skipped = SkippedLines()
    out = build_index(args.passages, args.out, args.encoder, args.pooling, args.index_type,
                      args.batch_size, show_progress=True,
                      skip_bad_lines=args.skip_bad_lines, skipped=skipped)
    meta = json.loads((out / META_FILE).read_text())
    print(f"indexed {meta['count']} passages ({meta['index_type']}, dim {meta['dim']}, "
          f"encoder {meta['encoder']}) -> {out} (index.faiss, {META_FILE}, {PASSAGES_FILE})")
    if skipped:
        print(skipped.summary(), file=sys.stderr)
    return 0


def _search(args) -> int:
    from rag_dialogue.retrieval.retriever import Retriever

    if args.k < 1:
        raise ValueError(f"-k must be >= 1, got {args.k}")
    results = Retriever(args.index_dir).search(args.text, k=args.k)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    for rank, r in enumerate(results, start=1):
        print(f"{rank}. [{r['score']:.3f}] {r['title']} ({r['id']})\n   {r['text']}\n")
    return 0
