"""The ``recfm`` command line: parses arguments, calls the library, prints.

Results go to stdout (or ``--output``), progress and errors to stderr. Any error is one
line ``recfm: error: ...`` and exit status 2.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from pathlib import Path

from ._timestamps import UNITS
from ._utils import RecfmError

log = logging.getLogger("recfm")


def _refuse_existing(path: str | None, overwrite: bool, flag: str, folder_ok: bool = False) -> None:
    """Check before any work that a file the user named may be written (exists, kind, permissions)."""
    from ._files import check_file_target

    check_file_target(path, overwrite, flag, folder_ok=folder_ok)


def _write_text(text: str, output: str | None, overwrite: bool = False) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from ._utils import write_text_atomic

    write_text_atomic(output, text, overwrite=overwrite)
    print(f"wrote {output}", file=sys.stderr)


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluation.experiment import run_experiment
    from .evaluation.report import format_table

    _refuse_existing(args.output, args.overwrite, "--output")
    _refuse_existing(args.plot, args.overwrite, "--plot")
    if args.save_run:
        from ._files import check_dir_target

        check_dir_target(args.save_run, "--save-run")
        if Path(args.save_run).exists() and any(Path(args.save_run).iterdir()):
            raise FileExistsError(f"--save-run directory {args.save_run} exists and is not empty")
    if args.plot:
        from .evaluation.plots import require_matplotlib

        require_matplotlib()  # fail now, not after every model has trained
    params = None
    if args.params:
        from .tuning import read_params_files

        params = read_params_files(args.params)
    with _cluster_scoring(args) as recommend:
        exp = run_experiment(
            dataset=args.dataset,
            models=args.models,
            split=args.split,
            k=args.k,
            min_rating=args.min_rating,
            seed=args.seed,
            test_size=args.test_size,
            cold_start=args.cold_start,
            data_home=args.data_home,
            download=not args.no_download,
            n_threads=args.threads,
            progress=not args.quiet,
            recommend=recommend,
            params=params,
            columns=_columns(args),
            users=args.users,
            items=args.items,
        )
    _write_text(format_table(exp.result, args.format, settings=exp.settings), args.output, args.overwrite)
    if args.save_run:
        from .evaluation.runs import save_run

        save_run(args.save_run, exp.train, exp.test, exp.result.recommendations, exp.result)
        print(f"saved run to {args.save_run}", file=sys.stderr)
    if args.plot:
        from .evaluation.plots import plot_curves

        plot_curves(exp.result, args.plot, overwrite=args.overwrite, settings=exp.settings)
        print(f"wrote {args.plot}", file=sys.stderr)


def _cmd_tune(args: argparse.Namespace) -> None:
    from .tuning import FILES, tune

    try:
        result = tune(
            args.dataset, args.model, n_trials=args.trials, out=args.out, timeout=args.timeout,
            metric=args.metric, seed=args.seed, resume=args.resume, split=args.split,
            test_size=args.test_size, validation_size=args.validation_size,
            validation_folds=args.validation_folds,
            n_threads=args.threads, data_home=args.data_home, download=not args.no_download,
            progress=not args.quiet, columns=_columns(args), users=args.users, items=args.items,
        )
    except KeyboardInterrupt:
        print(f"recfm: interrupted; finished trials are kept in {Path(args.out) / FILES['study']} "
              "(continue with --resume)", file=sys.stderr)
        raise SystemExit(130) from None
    from .evaluation.report import format_table

    print(f"chosen {result.metric} on validation: {result.best_value:.4f} (trial "
          f"{result.best_trial}) after {result.n_trials} trials ({result.n_pruned} pruned) in "
          f"{result.seconds:.0f} s; setting in {result.files['best_params']}", file=sys.stderr)
    check = result.confirmation
    if check is not None:
        verdict = "kept the defaults" if check["kept_defaults"] else "replaced the defaults"
        print(f"best trial {check['best_trial']} refitted against the defaults: "
              f"{check['difference']:+.4f} ± {check['standard_error']:.4f} (1 s.e., "
              f"{check['users']} validation users, {check.get('folds', 1)} folds): {verdict}",
              file=sys.stderr)
    if result.comparison is not None:
        settings = {**result.settings, "trials": result.n_trials}
        _write_text(format_table(result.comparison, "table", settings=settings), None)


def _client(args: argparse.Namespace):
    from .distributed import dask_client

    return dask_client(args.scheduler, n_workers=args.workers)


@contextlib.contextmanager
def _cluster_scoring(args: argparse.Namespace):
    """With --scheduler, a recommend function for evaluate that ranks on the cluster."""
    if not args.scheduler:
        yield None
        return
    if args.cold_start:
        raise ValueError("--scheduler ranks training users only; it cannot be combined with --cold-start")
    from .distributed import recommend_all

    with _client(args) as client:
        yield lambda model, ids, n, exclude_seen: recommend_all(
            model, users=ids, n=n, exclude_seen=exclude_seen, client=client)


def _cmd_datasets(args: argparse.Namespace) -> None:
    from .datasets import dataset_status

    status = dataset_status(args.data_home)
    _write_text(status.to_string(index=False), None)


_COLUMN_OPTIONS = ("user_column", "item_column", "rating_column", "time_column")


def _columns(args: argparse.Namespace) -> dict[str, str]:
    """The --*-column and --time-unit options given, as read_interactions_csv's keyword
    arguments."""
    return {k: v for k in (*_COLUMN_OPTIONS, "time_unit") if (v := getattr(args, k)) is not None}


def _column_args(parser: argparse.ArgumentParser, of: str) -> None:
    """--user-column etc.: the file's own names of recfm's interaction columns."""
    group = parser.add_argument_group(
        f"columns of {of}", "the file's own names of recfm's columns (default: user_id, "
        "item_id, rating, timestamp); times are integer Unix seconds (or --time-unit), ISO "
        "8601 text (2024-07-18, 2024-07-18 07:55:08, 2024-07-18T07:55:08+02:00; no offset = "
        "UTC) or Parquet timestamps")
    for option, name in zip(_COLUMN_OPTIONS, ("user_id", "item_id", "rating", "timestamp"), strict=True):
        group.add_argument("--" + option.replace("_", "-"), default=None, metavar="NAME",
                           help=f"the column holding {name}")
    group.add_argument("--time-unit", default=None, choices=list(UNITS),
                       help="what numeric times count since the epoch: seconds (default), "
                       "milliseconds, microseconds or nanoseconds")


def _attribute_args(parser: argparse.ArgumentParser) -> None:
    """--users/--items of evaluate and tune: the log's own attribute files."""
    group = parser.add_argument_group(
        "attributes", "the log's own user and item attributes, used by the attribute-aware "
        "models (fm-features, fm-warp, fm-hybrid); a file given replaces the data set's own "
        "attributes (ml-100k, sample, synthetic have them); --user-column/--item-column also "
        "name the id column of these files")
    group.add_argument("--users", default=None, metavar="FILE",
                       help="CSV or Parquet of user attributes (user_id,...)")
    group.add_argument("--items", default=None, metavar="FILE",
                       help="CSV or Parquet of item attributes (item_id,...; lists as a|b in CSV)")


def _names(spec: str | None) -> list[str] | None:
    return None if spec is None else [s.strip() for s in spec.split(",") if s.strip()]


def _cmd_fit(args: argparse.Namespace) -> None:
    from .datasets import load_with_attributes
    from .features import FeatureBuilder, History, RecentItems
    from .model import FactorizationMachine
    from .recommenders import FMRecommender, auto_feature_specs
    from .recommenders.persistence import check_save_target

    out = Path(args.out)
    check_save_target(out, args.overwrite)  # before training, not after
    # read and matched as evaluate does: a log and its attribute files meet in one place
    data, notes = load_with_attributes(Path(args.interactions), users=args.users,
                                       items=args.items, columns=_columns(args))
    for note in notes:
        log.info("%s", note)
    interactions, users, items = data.interactions, data.users, data.items
    # a side without an explicit column list uses every usable column of its frame
    log_user = [History()] if args.user_history else []
    log_context = [] if args.recent_items is None else [RecentItems(n=args.recent_items)]
    builder = FeatureBuilder(
        user_features=[*(_names(args.user_features) or auto_feature_specs(users, "user_id")),
                       *log_user],
        item_features=_names(args.item_features) or auto_feature_specs(items, "item_id"),
        context_features=[*(_names(args.context_features) or ()), *log_context],
    )
    model = FactorizationMachine(
        n_factors=args.factors,
        loss=args.loss,
        n_epochs=args.epochs,
        learning_rate=args.learning_rate,
        user_balance=args.user_balance,
        n_threads=args.threads,
        random_state=args.seed,
        verbose=not args.quiet,
    )
    rec = FMRecommender(builder=builder, model=model, min_rating=args.min_rating)
    rec.fit(interactions, users=users, items=items, validation=args.validation,
            early_stopping=args.early_stopping)
    rec.save(out, overwrite=args.overwrite)
    positives = rec.positives(interactions)
    rows = (f"{len(positives)} interactions rated >= "
            f"{args.min_rating:g} (of {len(interactions)} rows)"
            if args.min_rating is not None else f"{len(interactions)} interactions")
    pairs = len(positives[["user_id", "item_id"]].drop_duplicates())
    if pairs < len(positives):  # evaluate's splits count a pair once: say where fit differs
        rows += (f", {pairs} distinct (user, item) pairs: a repeated row is trained once "
                 "per row")
    print(
        f"fitted {rec.model_.loss} FM on {rows} "
        f"({len(rec.user_ids_)} users, {len(rec.item_ids_)} items, "
        f"{rec.model_.n_features_} features); saved to {out}",
        file=sys.stderr,
    )
    if rec.validation_ is not None:
        print(rec.validation_summary(), file=sys.stderr)


def _ids(spec: str, index):
    """Comma-separated ids, compared with the model's ``index`` as ids written alike."""
    from .datasets.ids import ids_like

    return ids_like(_names(spec), index)


def _is_file_arg(spec: str) -> bool:
    """A file of ids rather than ids: a CSV/Parquet name, or an existing path that is no
    list (a comma makes ``u0,u1`` ids even beside a file of that name)."""
    if not spec.strip():
        raise ValueError("--users is empty: give user ids (u1,u2), 'all' or a CSV/Parquet file")
    return spec.lower().endswith((".csv", ".parquet", ".pq")) or (
        "," not in spec and Path(spec).exists())


def _cmd_recommend(args: argparse.Namespace) -> None:
    import inspect

    from .datasets import (
        is_parquet,
        read_attributes_csv,
        read_context_csv,
        read_interactions_csv,
        write_table,
    )
    from .datasets.ids import frame_ids_like, ids_like
    from .recommenders import load

    if _columns(args) and not (args.history or args.user_attributes
                               or (args.users is not None and _is_file_arg(args.users))):
        raise ValueError("--user-column, --item-column, --rating-column, --time-column and "
                         "--time-unit describe columns of --history (and --user-column the "
                         "id column of --users FILE / --user-attributes), none of which is "
                         "given")
    # on a cluster, a Parquet output is a folder of parts
    _refuse_existing(args.output, args.overwrite, "--output", folder_ok=bool(args.scheduler))
    if args.scheduler:
        _recommend_on_cluster(args)
        return
    rec = load(args.model)  # any saved recommender
    accepted = inspect.signature(rec.recommend).parameters
    for flag, key in (("--items", "items"), ("--context", "context"), ("--user-attributes", "users"),
                      ("--history", "history")):
        if getattr(args, key if key != "users" else "user_attributes") and key not in accepted:
            raise ValueError(f"{flag} is not supported by a saved {type(rec).__name__}")
    history = (read_interactions_csv(args.history, **_columns(args)).interactions
               if args.history else None)
    history = frame_ids_like(frame_ids_like(history, "user_id", rec.user_ids_), "item_id",
                             rec.item_ids_)
    users = (read_attributes_csv(args.user_attributes, "user_id", source_column=args.user_column)
             if args.user_attributes else None)
    users = frame_ids_like(users, "user_id", rec.user_ids_)
    context = read_context_csv(args.context) if args.context else None
    if args.all or args.users == "all":
        ids = rec.user_ids_
    elif _is_file_arg(args.users):
        ids = ids_like(read_attributes_csv(args.users, "user_id",
                                           source_column=args.user_column)["user_id"],
                       rec.user_ids_)
    else:
        ids = _ids(args.users, rec.user_ids_)
    items = None if args.items is None else _ids(args.items, rec.item_ids_)
    options = {k: v for k, v in (("items", items), ("context", context), ("users", users),
                                 ("history", history)) if v is not None}
    recs = rec.recommend(ids, n=args.n, exclude_seen=not args.include_seen, **options)
    if args.output and is_parquet(args.output):
        write_table(recs, args.output, overwrite=args.overwrite)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        _write_text(recs.to_csv(index=False, lineterminator="\n"), args.output, args.overwrite)


def _recommend_on_cluster(args: argparse.Namespace) -> None:
    from .datasets import is_parquet
    from .distributed import recommend_all
    from .distributed.recommend import load_source

    if args.user_attributes or args.context or args.history:
        raise ValueError("--scheduler ranks the model's training users only; "
                         "--user-attributes, --context and --history need the single-machine path")
    source = load_source(args.model)  # fails here, before a cluster starts, on a bad model
    if args.all or args.users == "all":
        users = None
    elif _is_file_arg(args.users):
        users = args.users
    else:
        users = _ids(args.users, source.user_ids)
    items = None if args.items is None else _ids(args.items, source.item_ids)
    parquet = args.output is not None and is_parquet(args.output)
    with _client(args) as client:
        result = recommend_all(args.model, users=users, n=args.n,
                               exclude_seen=not args.include_seen, client=client,
                               output=args.output if parquet else None, items=items,
                               overwrite=args.overwrite)
    if parquet:
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        _write_text(result.to_csv(index=False, lineterminator="\n"), args.output, args.overwrite)


def _cluster_args(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--scheduler", default=None, metavar="local|tcp://ADDRESS", help=help)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes of --scheduler local (default: one per core)")


def _threads(text: str) -> int:
    """--threads: checked (and capped, with a note) once, before any work."""
    from ._utils import check_n_threads

    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return check_n_threads(value, "--threads")


def build_parser() -> argparse.ArgumentParser:
    from .evaluation.experiment import DEFAULT_MODELS
    from .recommenders import describe_models
    from .recommenders.ease import DEFAULT_LIST_MAX_ITEMS

    parser = argparse.ArgumentParser(
        prog="recfm",
        description="Top-N recommendation with factorization machines.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    models_help = "; ".join(f"{k}: {v}" for k, v in describe_models().items())
    ev = sub.add_parser(
        "evaluate",
        help="fit models on one split and compare them on ranking metrics",
        description="Fit models on one split and compare them on ranking metrics. "
        "Models: " + models_help,
    )
    ev.add_argument("--dataset", default="synthetic",
                    help="synthetic (default), synthetic-ml-1m, synthetic-ml-20m, sample, ml-100k, "
                    "ml-1m, ml-10m, ml-20m, ml-25m, ml-latest-small, "
                    "or a CSV or Parquet file with user_id,item_id[,rating,timestamp]")
    ev.add_argument("--data-home", default=None,
                    help="where MovieLens data lives (default: $RECFM_DATA or the user cache)")
    ev.add_argument("--no-download", action="store_true",
                    help="never download; fail if the data is not local")
    ev.add_argument("--models", default=None,
                    help=f"comma-separated model names, or 'all' (default {DEFAULT_MODELS}, "
                    "minus EASE when the catalogue is too big for its memory or has more "
                    f"than {DEFAULT_LIST_MAX_ITEMS:,} items, where its ~n³ fit takes minutes)")
    ev.add_argument("--split", default="random", choices=["random", "temporal", "leave-last-out"],
                    help="random: 20%% of each user's distinct items held out, users with "
                    "fewer than 5 kept in train and not scored; temporal: the latest 20%% of "
                    "the log; leave-last-out: each user's latest item (users with 2+). "
                    "Repeated (user, item) rows count once; the report's notes say how many "
                    "rows were merged and users not scored")
    ev.add_argument("--cold-start", action="store_true",
                    help="hold out whole users at random (cold-start protocol; with the "
                    "random split only)")
    ev.add_argument("--test-size", type=float, default=None,
                    help="test fraction of the random and temporal splits, of the users with "
                    "--cold-start (default 0.2; not with leave-last-out)")
    ev.add_argument("--min-rating", type=float, default=None, help="ratings below this are not positives")
    ev.add_argument("--k", default="10", help="cut-offs, e.g. 10,20 (default 10)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--threads", type=_threads, default=None,
                    help="threads per model (default: all cores; capped at the cores available)")
    ev.add_argument("--format", default="table", choices=["table", "markdown", "json"])
    ev.add_argument("--output", default=None, help="write the report here instead of stdout")
    ev.add_argument("--save-run", default=None, metavar="DIR",
                    help="write train.csv, test.csv and recommendations/<model>.csv to DIR")
    ev.add_argument("--plot", default=None, metavar="FILE.png", help="draw NDCG@k and Recall@k curves")
    ev.add_argument("--overwrite", action="store_true", help="allow replacing --output/--plot files")
    _cluster_args(ev, "compute the test users' lists on a Dask cluster: 'local' (worker processes "
                  "started here) or a scheduler address tcp://HOST:PORT")
    ev.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    ev.add_argument("--params", action="append", default=None, metavar="best_params.json",
                    help="use a setting written by recfm tune for its model (repeatable, one "
                    "file per model; the model is added to --models if missing)")
    _attribute_args(ev)
    _column_args(ev, "a --dataset file (and the id columns of --users, --items)")
    ev.set_defaults(func=_cmd_evaluate)

    tn = sub.add_parser(
        "tune",
        help="tune one model's hyper-parameters (optuna) on a validation split of train",
        description="Tune a model on a validation split carved from the training part (never "
        "the test part), then compare the best setting with the defaults on test. Needs "
        "optuna: pip install recfm[tune].",
    )
    tn.add_argument("--dataset", required=True, help="a data set name (as for evaluate) or a CSV file")
    tn.add_argument("--model", required=True,
                    help="model to tune: fm, fm-features, fm-warp, fm-history, fm-hybrid, als, bpr, ease")
    tn.add_argument("--trials", type=int, default=50, help="trials in the study (default 50)")
    tn.add_argument("--timeout", type=float, default=None,
                    help="stop starting trials after this many seconds")
    tn.add_argument("--metric", default="ndcg@10", help="validation metric to maximise (default ndcg@10)")
    tn.add_argument("--seed", type=int, default=0, help="seed of the splits, the sampler and the models")
    tn.add_argument("--out", required=True, metavar="DIR",
                    help="output directory (must not exist unless --resume)")
    tn.add_argument("--resume", action="store_true",
                    help="continue the study in --out up to --trials trials (same data set, "
                    "attribute files, model, metric, split and seed)")
    tn.add_argument("--split", default="random", choices=["random", "temporal", "leave-last-out"])
    tn.add_argument("--test-size", type=float, default=None,
                    help="test fraction of the random and temporal splits (default 0.2; not "
                    "with leave-last-out)")
    tn.add_argument("--validation-size", type=float, default=0.1,
                    help="fraction of each user's training interactions used for validation "
                    "(per fold)")
    tn.add_argument("--validation-folds", type=int, default=3, metavar="K",
                    help="disjoint validation parts of --validation-size each, every one with "
                    "the rest of train as its fit part; a trial scores the mean over them "
                    "(default %(default)s; K * validation size must be at most 1)")
    tn.add_argument("--threads", type=int, default=None)
    tn.add_argument("--data-home", default=None)
    tn.add_argument("--no-download", action="store_true")
    tn.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _attribute_args(tn)
    _column_args(tn, "a --dataset file (and the id columns of --users, --items)")
    tn.set_defaults(func=_cmd_tune)

    fit = sub.add_parser("fit", help="train an FM recommender on CSV files and save it")
    fit.add_argument("--interactions", required=True,
                     help="CSV or Parquet (by extension) with user_id,item_id[,rating,timestamp,...]")
    fit.add_argument("--users", default=None, help="CSV or Parquet of user attributes (user_id,...)")
    fit.add_argument("--items", default=None,
                     help="CSV or Parquet of item attributes (item_id,...; lists as a|b in CSV)")
    fit.add_argument("--user-features", default=None, help="user columns to use (default: all usable ones)")
    fit.add_argument("--item-features", default=None, help="item columns to use (default: all usable ones)")
    fit.add_argument("--context-features", default=None, help="interaction columns used as context")
    fit.add_argument("--user-history", action="store_true",
                     help="add a History field: each user described by their training items "
                     "(SVD++-style; serves new users from `recommend --history`)")
    fit.add_argument("--recent-items", type=int, default=None, metavar="N",
                     help="add a RecentItems field: the user's last N items before each interaction "
                     "(FPMC-style; needs a timestamp column)")
    fit.add_argument("--out", required=True, help="model directory to write")
    fit.add_argument("--loss", default="warp", choices=["bpr", "warp", "logistic", "squared"])
    fit.add_argument("--factors", type=int, default=64)
    fit.add_argument("--epochs", type=int, default=30)
    fit.add_argument("--learning-rate", type=float, default=0.05)
    fit.add_argument("--user-balance", type=float, default=0.0, metavar="B",
                     help="weigh each interaction of a user with n of them by n**-B: 0 every "
                     "interaction alike (heavy users dominate), 1 every user alike")
    fit.add_argument("--min-rating", type=float, default=None,
                     help="train on ratings >= this only; items a user rated lower are "
                     "still never recommended back to them")
    fit.add_argument("--validation", type=float, default=None, metavar="FRACTION",
                     help="carve this fraction of each user's interactions (not trained on) and "
                     "measure NDCG@10 on it after every epoch (0.2 recommended)")
    fit.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                     help="with --validation: stop after PATIENCE epochs without gain and keep the "
                     "best epoch; --epochs is then the maximum (5 recommended)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--threads", type=_threads, default=None,
                     help="training threads (default: all cores; capped at the cores available)")
    fit.add_argument("--overwrite", action="store_true", help="replace an existing model directory")
    fit.add_argument("-q", "--quiet", action="store_true")
    _column_args(fit, "--interactions (and the id columns of --users, --items)")
    fit.set_defaults(func=_cmd_fit)

    rc = sub.add_parser("recommend", help="top-N lists from a saved model, as CSV")
    rc.add_argument("--model", required=True,
                    help="model folder written by recfm fit or by any recommender's save()")
    who = rc.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", default=None,
                     help="comma-separated user ids, 'all', or a CSV/Parquet file with a user_id column")
    who.add_argument("--all", action="store_true", help="every training user")
    rc.add_argument("--n", type=int, default=10)
    rc.add_argument("--items", default=None, help="rank only these item ids (comma-separated)")
    rc.add_argument("--user-attributes", default=None, help="CSV of attributes of new users (cold start)")
    rc.add_argument("--context", default=None, help="CSV with the context columns (one row, or one per user)")
    rc.add_argument("--history", default=None,
                    help="CSV or Parquet of user_id,item_id[,timestamp]: the items of users to serve "
                    "from them (new users, no retraining; a model with a History or RecentItems field)")
    rc.add_argument("--include-seen", action="store_true", help="do not exclude training items")
    rc.add_argument("--output", default=None,
                    help="write here instead of stdout: Parquet if it ends in .parquet (with "
                    "--scheduler, a folder of one file per partition of users), else CSV")
    rc.add_argument("--overwrite", action="store_true")
    _cluster_args(rc, "rank on a Dask cluster: 'local' (worker processes started here) or a "
                  "scheduler address tcp://HOST:PORT; workers load --model themselves")
    _column_args(rc, "--history (and the id column of --users FILE, --user-attributes)")
    rc.set_defaults(func=_cmd_recommend)

    ds = sub.add_parser("datasets", help="supported data sets and whether each is present locally")
    ds_sub = ds.add_subparsers(dest="datasets_command", required=True)
    ls = ds_sub.add_parser("list", help="list supported data sets")
    ls.add_argument("--data-home", default=None)
    ls.set_defaults(func=_cmd_datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        parser = build_parser()
        args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
            format="%(message)s",
            stream=sys.stderr,
        )
        try:
            args.func(args)
        except KeyboardInterrupt:
            # outputs are written under temporary names and renamed into place, so an
            # interrupted command leaves no partial file behind
            print("recfm: interrupted; nothing was written", file=sys.stderr)
            return 130
        except _EXPECTED as exc:
            print(f"recfm: error: {_message(exc)}", file=sys.stderr)
            return 2
    return 0


#: What a user can cause (bad data or settings, divergence, files, memory, missing extras):
#: one line on stderr, status 2. Anything else is a bug in recfm and keeps its traceback.
_EXPECTED = (RecfmError, ValueError, KeyError, OSError, ImportError, MemoryError,
             FloatingPointError, OverflowError)


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, MemoryError) and not str(exc):
        return "out of memory"
    return str(exc) or type(exc).__name__


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each, like errors (no source location: the user did not write it)."""
    print(f"recfm: warning: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
