"""``bootstrap``: describe the classes, get a classifier trained on LLM labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bonepick.cli.app import command
from bonepick.cli.options import InputDirs, NumProc

_NOT_GIVEN: Any = None

#: built-in defaults, below the YAML config file, below the command line
DEFAULTS: dict[str, Any] = {
    "rules_model": "gpt-4.1",
    "label_model": "gpt-4.1-mini",
    "trainer": "fasttext",
    "initial_size": 500,
    "increment": 500,
    "test_size": 500,
    "required_accuracy": 0.9,
    "max_iters": 5,
    "balance": False,
    "predict_rest": False,
    "seed": 0,
    "text_expression": ".text",
    "id_expression": ".id",
    "max_concurrent": 16,
}
CONFIG_KEYS = {
    *DEFAULTS,
    "input_dir",
    "output_dir",
    "classes",
    "description",
    "base_url",
    "api_key_env",
    "cache_location",
    "rules",
}


def _opt(*names: str, help: str, kind: Any = str) -> Any:
    return Annotated[kind | None, typer.Option(*names, help=help, show_default=False)]


def _load_config(path: Path | None) -> dict[str, Any]:
    import yaml

    from bonepick.errors import UsageError

    if path is None:
        return {}
    if not path.is_file():
        raise UsageError(f"--config file not found: {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a bootstrap config is a mapping of option names to values")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = set(data) - CONFIG_KEYS
    if unknown:
        raise UsageError(
            f"{path}: unknown keys {sorted(unknown)}", hint=f"allowed: {', '.join(sorted(CONFIG_KEYS))}"
        )
    return data


@command("train")
def bootstrap(
    input_dir: InputDirs = _NOT_GIVEN,
    output_dir: _opt("-o", "--output-dir", help="Output folder (resumable).", kind=Path) = None,
    classes: _opt("--classes", help="Comma-separated class names, e.g. keep,drop.") = None,
    description: _opt(
        "--description", help="What each class means: text, or a path to a text/Markdown file."
    ) = None,
    rules_model: _opt("--rules-model", help="Model that writes the rules [default: gpt-4.1].") = None,
    label_model: _opt("--label-model", help="Model that labels documents [default: gpt-4.1-mini].") = None,
    base_url: _opt("--base-url", help="OpenAI-compatible endpoint [default: OpenAI].") = None,
    api_key_env: _opt("--api-key-env", help="Variable holding the API key [default: OPENAI_API_KEY].") = None,
    cache_location: _opt(
        "-c", "--cache-location", help="Answer cache folder or .sqlite file [default: user cache].", kind=Path
    ) = None,
    trainer: _opt("--trainer", help="fasttext or model2vec [default: fasttext].") = None,
    initial_size: _opt(
        "--initial-size", help="Documents labelled for the first model [default: 500].", kind=int
    ) = None,
    increment: _opt(
        "--increment", help="Documents labelled per further iteration [default: 500].", kind=int
    ) = None,
    test_size: _opt("--test-size", help="Held-out documents labelled once [default: 500].", kind=int) = None,
    required_accuracy: _opt(
        "--required-accuracy",
        help="Stop when agreement with the LLM reaches this [default: 0.9].",
        kind=float,
    ) = None,
    max_iters: _opt("--max-iters", help="Most training rounds [default: 5].", kind=int) = None,
    balance: _opt(
        "--balance/--no-balance",
        help="Pick new documents the model is least sure of, rarer predicted classes first.",
        kind=bool,
    ) = None,
    predict_rest: _opt(
        "--predict-rest/--no-predict-rest", help="Score every raw document with the final model.", kind=bool
    ) = None,
    rules: _opt(
        "--rules", help="Use this (edited) rules file instead of asking the rules model.", kind=Path
    ) = None,
    config: _opt(
        "--config", help="YAML file with any of these options (the command line wins).", kind=Path
    ) = None,
    seed: _opt("-s", "--seed", help="Random seed for sampling and training [default: 0].", kind=int) = None,
    num_proc: NumProc = None,
) -> None:
    """Describe the classes, get a classifier: an LLM writes labelling rules, labels a sample and a
    frozen test set, a fast classifier trains on the labels, and more documents are labelled until
    the classifier agrees with the LLM to --required-accuracy (or --max-iters). Resumable: rerun the
    same command; answers come from the cache and finished iterations are kept."""
    from bonepick.annotate.bootstrap import BootstrapConfig, run_bootstrap
    from bonepick.annotate.cache import resolve_cache_path
    from bonepick.cli import output
    from bonepick.errors import UsageError

    given = {
        "input_dir": input_dir or None,
        "output_dir": output_dir,
        "classes": classes,
        "description": description,
        "rules_model": rules_model,
        "label_model": label_model,
        "base_url": base_url,
        "api_key_env": api_key_env,
        "cache_location": cache_location,
        "trainer": trainer,
        "initial_size": initial_size,
        "increment": increment,
        "test_size": test_size,
        "required_accuracy": required_accuracy,
        "max_iters": max_iters,
        "balance": balance,
        "predict_rest": predict_rest,
        "rules": rules,
        "seed": seed,
    }
    values = {**DEFAULTS, **_load_config(config), **{k: v for k, v in given.items() if v is not None}}
    for required in ("input_dir", "output_dir", "classes"):
        if not values.get(required):
            raise UsageError(
                f"--{required.replace('_', '-')} is required (on the command line or in --config)"
            )
    if not values.get("description") and not values.get("rules"):
        raise UsageError("give --description (or --rules FILE)")
    text = str(values.get("description") or "")
    if text and len(text) < 4096 and "\n" not in text and Path(text).is_file():
        text = Path(text).read_text()
    inputs = values["input_dir"]
    inputs = [Path(p) for p in (inputs if isinstance(inputs, list) else [inputs])]
    class_list = values["classes"]
    if isinstance(class_list, str):
        class_list = [c.strip() for c in class_list.split(",") if c.strip()]
    settings = BootstrapConfig(
        inputs=inputs,
        output_dir=Path(values["output_dir"]),
        classes=[str(c) for c in class_list],
        description=text,
        rules_model=values["rules_model"],
        label_model=values["label_model"],
        base_url=values.get("base_url"),
        api_key_env=values.get("api_key_env"),
        cache_path=resolve_cache_path(values.get("cache_location")),
        trainer=values["trainer"],
        initial_size=int(values["initial_size"]),
        increment=int(values["increment"]),
        test_size=int(values["test_size"]),
        required_accuracy=float(values["required_accuracy"]),
        max_iters=int(values["max_iters"]),
        balance=bool(values["balance"]),
        predict_rest=bool(values["predict_rest"]),
        rules_file=Path(values["rules"]) if values.get("rules") else None,
        text_expression=values["text_expression"],
        id_expression=values["id_expression"],
        max_concurrent=int(values["max_concurrent"]),
        seed=int(values["seed"]),
        num_proc=num_proc or 1,
    )
    result = run_bootstrap(settings, message=output.info)

    rows = []
    for it in result.iterations:
        m = it.metrics
        rows.append(
            [
                it.index,
                it.train_size,
                f"{m.accuracy:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}]",
                f"{m.macro_f1:.3f}",
                " ".join(f"{c}={v['f1']:.2f}" for c, v in m.per_class.items()),
                "resumed" if it.index in result.resumed else it.requests,
            ]
        )
    output.table(
        f"bootstrap progress (agreement with the LLM on {result.test_size} test documents)",
        ["iteration", "train size", "accuracy [95% CI]", "macro-F1", "F1 per class", "requests"],
        rows,
    )
    last = result.iterations[-1]
    if result.reached:
        output.info(
            f"target reached: accuracy {last.metrics.accuracy:.3f} >= {settings.required_accuracy} "
            f"at iteration {last.index} with {last.train_size} labelled documents"
        )
    else:
        output.warn(
            f"target not reached: best accuracy {max(i.metrics.accuracy for i in result.iterations):.3f} "
            f"< {settings.required_accuracy} after {len(result.iterations)} iteration(s) (--max-iters "
            f"{settings.max_iters}); the last model is kept. Raise --max-iters or --increment and rerun "
            "to continue, or refine the rules (edit rules.md and pass it with --rules, in a new folder)"
        )
    if result.skipped_unlabelled:
        output.warn(
            f"{result.skipped_unlabelled} document(s) got no valid label and were left out; rerun to retry"
        )
    output.info(f"rules: {result.rules_path}")
    output.info(f"final model: {result.final_model} (use it with `bonepick infer`)")
    if result.predictions is not None:
        output.info(f"scores of every raw document: {result.predictions}")
    output.info(f"label requests sent this run: {result.requests}")
