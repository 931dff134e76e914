"""`rag-dialogue index build|search|train-query-encoder`: build a passage index directory,
query it, and fine-tune a query encoder for it on gold knowledge."""

import json
import sys

# Index kinds and poolings are repeated here (not imported) so `rag-dialogue --help`
# does not pay for importing faiss, torch and transformers.
INDEX_TYPES = ("exact", "hnsw_flat", "hnsw_sq8", "ivfpq")
POOLINGS = ("cls", "mean")


def add_subparser(subparsers):
    parser = subparsers.add_parser("index", help="build or search a dense passage index")
    commands = parser.add_subparsers(dest="index_command", metavar="{build,search,train-query-encoder}")
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
    build.add_argument("--index-type", default="exact", metavar="KIND",
                       help=f"one of {', '.join(INDEX_TYPES)} (exact inner product, HNSW over "
                       "full vectors, HNSW over 8-bit codes, IVF-PQ; the compressed kinds "
                       "re-rank their candidates exactly with the stored vectors), or a FAISS "
                       "index_factory string such as 'IVF4096,PQ48' (default: exact)")
    build.add_argument("--batch-size", type=int, default=64, metavar="N",
                       help="passages encoded per forward pass")
    build.add_argument("--skip-bad-lines", action="store_true",
                       help="pass over malformed lines of the passage file and report how many "
                       "and which at the end (default: stop at the first, naming its line)")
    build.add_argument("--shard-size", type=int, default=4096, metavar="N",
                       help="passages per shard: the unit of work kept on disk, so a build "
                       "that was stopped resumes where it was")
    _add_knobs(build, "saved with the index")
    build.add_argument("--ray", action="store_true",
                       help="encode the shards in parallel on Ray, one encoder per worker "
                       "(pip install 'rag-dialogue[ray]')")
    build.add_argument("--num-workers", type=int, default=None, metavar="N",
                       help="with --ray: encoder workers (default: one per CPU of the cluster)")
    build.add_argument("--address", default=None, metavar="ADDR",
                       help="with --ray: the cluster to join, e.g. 'auto' or 'ray://host:10001' "
                       "(default: a local Ray started for this build)")
    build.set_defaults(func=_build)

    search = commands.add_parser("search", help="print the passages an index retrieves for a text")
    search.add_argument("index_dir", metavar="DIR", help="index directory made by `index build`")
    search.add_argument("text", help="query text (e.g. the dialogue history)")
    search.add_argument("-k", type=int, default=5, help="number of passages to return")
    _add_knobs(search, "overriding those saved with the index")
    search.add_argument("--json", action="store_true",
                        help='print a JSON list of {"id","title","text","score"}, best first')
    search.set_defaults(func=_search)

    select = commands.add_parser(
        "train-query-encoder",
        help="fine-tune the query encoder to rank the wizards' gold sentences first (knowledge "
        "selection) against a fixed index; gives a folder for --query-encoder")
    select.add_argument("-p", "--preset", default="embedded_rag_token", metavar="NAME",
                        help="recipe whose task, datapath, index and query options are used "
                        "(default: embedded_rag_token; build its data first, e.g. with `rag-dialogue train`)")
    select.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write (transformers weights, tokenizer, selection.json), atomically")
    select.add_argument("--index-dir", default=None, metavar="DIR", help="index to train against (default: the recipe's)")
    select.add_argument("--steps", type=int, default=None, metavar="N",
                        help="optimizer steps (default: the recipe's rag_dialogue_selection_steps, else 100)")
    select.add_argument("--batch-size", type=int, default=32, metavar="N", help="dialogue turns per step")
    select.add_argument("--lr", type=float, default=None,
                        help="AdamW learning rate (default: the recipe's rag_dialogue_selection_lr, else 3e-5)")
    select.add_argument("--candidates", type=int, default=20, metavar="K",
                        help="passages retrieved per turn to rank the gold among")
    select.add_argument("--max-minutes", type=float, default=None, help="stop earlier after this much time")
    select.add_argument("--eval-split", default="valid_unseen", metavar="SPLIT",
                        help="split on which recall@1/5 is measured before and after ('' skips)")
    select.set_defaults(func=_train_query_encoder)


def _add_knobs(parser, where):
    parser.add_argument("--nprobe", type=int, default=None, metavar="N",
                        help=f"IVF lists visited per query ({where})")
    parser.add_argument("--ef-search", type=int, default=None, metavar="N",
                        help=f"HNSW candidate list size ({where})")
    parser.add_argument("--k-factor", type=int, default=None, metavar="N",
                        help=f"candidates re-ranked exactly per result; 1 = none ({where})")


def _knobs(args) -> dict:
    return {"nprobe": args.nprobe, "ef_search": args.ef_search, "k_factor": args.k_factor}


def _build(args) -> int:
    from rag_dialogue.retrieval.build import BuildLockedError
    from rag_dialogue.retrieval.index import META_FILE
    from rag_dialogue.retrieval.passages import SkippedLines
    from rag_dialogue.retrieval.retriever import PASSAGES_FILE, build_index

    for name in ("batch_size", "shard_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not args.ray and (args.num_workers is not None or args.address is not None):
        raise ValueError("--num-workers and --address go with --ray")
    skipped = SkippedLines()
    try:
        out = build_index(args.passages, args.out, args.encoder, args.pooling, args.index_type,
                          args.batch_size, show_progress=True, shard_size=args.shard_size,
                          ray=args.ray, num_workers=args.num_workers, address=args.address,
                          knobs=_knobs(args), skip_bad_lines=args.skip_bad_lines, skipped=skipped)
    except (BuildLockedError, ImportError) as e:
        print(f"rag-dialogue index: error: {e}", file=sys.stderr)
        return 2
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
    results = Retriever(args.index_dir, knobs=_knobs(args)).search(args.text, k=args.k)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return 0
    for rank, r in enumerate(results, start=1):
        print(f"{rank}. [{r['score']:.3f}] {r['title']} ({r['id']})\n   {r['text']}\n")
    return 0


def _train_query_encoder(args) -> int:
    from rag_dialogue import presets
    from rag_dialogue.retrieval.selection import fit_query_encoder

    preset = presets.load(args.preset)
    if args.index_dir:
        preset["index_dir"] = args.index_dir
    stats = fit_query_encoder(preset, args.out, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                              n_candidates=args.candidates,
                              max_seconds=None if args.max_minutes is None else args.max_minutes * 60,
                              eval_split=args.eval_split or None)
    print(f"trained {stats['steps']} steps in {stats['seconds']:.0f} s -> {args.out} "
          f"(use it with --query-encoder {args.out})")
    return 0
