"""`rag-dialogue data`: build the embedded dataset, export passage files for `index build`."""


def _build(args):
    from rag_dialogue.tasks.vital_articles import build as va

    config = va.requested_config(args.datapath, {k: getattr(args, k) for k in va.KNOBS})
    before = va.built_config(args.datapath)
    root = va.build(args.datapath, config, log=lambda _: None)
    cached = before is not None and before == va.built_config(args.datapath)
    print(f"{root}{' (already built)' if cached else ''}: {va.built_config(args.datapath)}")
    print(va.format_sizes(va.read_sizes(args.datapath)))
    print(f"knowledge corpus:      {va.passages_file(args.datapath)}")
    print(f"counterfactual corpus: {va.passages_file(args.datapath, counterfactual=True)}")
    print(f"ParlAI task:           -t rag_dialogue.tasks.vital_articles.agents --datapath {args.datapath}")


def _export_wow(args):
    from rag_dialogue.tasks.wizard_of_wikipedia.export import export_passages, wow_folder

    folder = wow_folder(args.datapath, download=not args.no_download)
    out = args.out or folder / f"rag_passages.{args.granularity}.jsonl"
    counts = export_passages(folder, out, args.granularity)
    print(f"{counts['passages_written']} passages ({counts['titles']} titles; "
          f"{counts['passages_seen']} before de-duplication) from {counts['files']} files -> {counts['out']}")


def add_subparser(subparsers):
    from rag_dialogue.paths import default_datapath
    from rag_dialogue.tasks.vital_articles.build import KNOBS, BuildConfig

    parser = subparsers.add_parser("data", help="build datasets and export passage files")
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    sub.required = True

    defaults = BuildConfig()
    b = sub.add_parser(
        "build", help="build (once) the embedded vital-articles dataset and print its sizes",
        description="Builds the WoW-format dataset from the packaged Wikipedia vital-article "
        "summaries under DATAPATH/vital_articles, with its passage files. Already built: prints the sizes.",
    )
    b.add_argument("--datapath", default=str(default_datapath()), help="ParlAI datapath (default: %(default)s)")
    for name, text in KNOBS.items():
        b.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=None,
                       help=f"{text} (default: as built, else {getattr(defaults, name)}; a new value rebuilds)")
    b.set_defaults(func=_build)

    e = sub.add_parser(
        "export-wow-passages",
        help="write every passage retrieved in Wizard of Wikipedia as a de-duplicated JSONL passage file",
        description="Reads DATAPATH/wizard_of_wikipedia (downloaded by ParlAI's build if missing) and "
        "writes id/title/text rows for `rag-dialogue index build --passages`.",
    )
    e.add_argument("--datapath", default=str(default_datapath()), help="ParlAI datapath (default: %(default)s)")
    e.add_argument("--out", default=None,
                   help="output JSONL (default: DATAPATH/wizard_of_wikipedia/rag_passages.GRANULARITY.jsonl)")
    e.add_argument("--granularity", choices=("sentence", "passage"), default="sentence",
                   help="one passage per knowledge sentence (default; what the wizard picks from) "
                   "or per retrieved passage")
    e.add_argument("--no-download", action="store_true", help="fail instead of downloading when the data is missing")
    e.set_defaults(func=_export_wow)
    return parser
