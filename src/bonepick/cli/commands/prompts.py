"""Annotation prompt commands: list-prompts and show-prompt."""

from __future__ import annotations

from typing import Annotated

import typer

from bonepick.cli.app import command
from bonepick.cli.options import PromptDirs


@command("annotate")
def list_prompts(
    kind: Annotated[
        str | None, typer.Argument(help="task or system [default: both].", show_default=False)
    ] = None,
    prompt_dir: PromptDirs = None,
) -> None:
    """List the annotation prompts (built-in and your own) with a one-line description."""
    from bonepick.annotate.prompts import KINDS, PromptLibrary
    from bonepick.cli import output
    from bonepick.errors import UsageError

    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown prompt kind '{kind}'", hint="use task or system")
    library = PromptLibrary(prompt_dir or [])
    for which in [kind] if kind else list(KINDS):
        prompts = library.all(which)
        own = any(p.source != "built-in" for p in prompts)
        if which == "task":
            columns = ["name", "inputs", "score", "description"]
            rows = [[p.name, ", ".join(p.input_names), _score(p), p.description] for p in prompts]
        else:
            columns = ["name", "description"]
            rows = [[p.name, p.description] for p in prompts]
        if own:
            columns.append("source")
            for row, p in zip(rows, prompts, strict=True):
                row.append(p.source)
        output.table(f"{which} prompts", columns, rows)


def _score(prompt) -> str:
    if prompt.score is None:
        return "-"
    if prompt.score_range is not None:
        low, high = prompt.score_range
        return f"{prompt.score} {low:g}-{high:g}"
    return prompt.score


@command("annotate")
def show_prompt(
    name: Annotated[
        str, typer.Argument(help="Prompt name or path to a prompt file/folder.", show_default=False)
    ],
    system_prompt: Annotated[
        str | None,
        typer.Option(
            "-S",
            "--system-prompt",
            help="System prompt to show with it [default: the prompt's own].",
            show_default=False,
        ),
    ] = None,
    text: Annotated[
        str | None,
        typer.Option(
            "--text", help="Render on this text instead of the prompt's example.", show_default=False
        ),
    ] = None,
    max_text_length: Annotated[
        int | None,
        typer.Option(
            "--max-text-length", help="Cut the example as annotate-dataset would.", show_default=False
        ),
    ] = None,
    prompt_dir: PromptDirs = None,
) -> None:
    """Render a prompt on its example: the messages sent, the inputs it reads and its output schema."""
    from bonepick.annotate.chunking import fit
    from bonepick.annotate.prompts import PromptLibrary
    from bonepick.annotate.runner import format_conversation
    from bonepick.cli import output
    from bonepick.errors import UsageError

    library = PromptLibrary(prompt_dir or [])
    try:
        prompt = library.get(name, "task")
    except UsageError as task_error:
        try:
            prompt = library.get(name, "system")
        except UsageError:
            raise task_error from None
    output.info(f"{prompt.kind} prompt '{prompt.name}' (version {prompt.version}, {prompt.source})")
    if prompt.description:
        output.info(prompt.description)
    if prompt.kind == "system":
        output.out.print(prompt.render(), markup=False, highlight=False, soft_wrap=True)
        return
    values: dict[str, str] = {}
    truncated: list[str] = []
    for field in prompt.inputs:
        value = text if text is not None and field == prompt.inputs[0] else prompt.example.get(field.name)
        if value is None:
            raise UsageError(
                f"prompt '{prompt.name}' has no example for its input '{field.name}'", hint="pass --text"
            )
        if isinstance(value, list):
            value = format_conversation(value)
        piece = fit(str(value), "head", max_text_length)[0]
        values[field.name] = piece.text
        if piece.truncated:
            truncated.append(field.name)
    system_name = system_prompt or prompt.system
    if system_name and system_name.lower() != "none":
        system = library.get(system_name, "system")
        output.out.rule(f"system: {system.name}")
        output.out.print(system.render(), markup=False, highlight=False, soft_wrap=True)
    output.out.rule(f"user: {prompt.name}")
    output.out.print(
        prompt.render(values, truncated=bool(truncated), truncated_fields=truncated),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    output.out.rule("inputs")
    for field in prompt.inputs:
        output.out.print(
            f"{field.name}: {field.expression} ({field.format}) {field.description}", markup=False
        )
    output.out.rule(f"output schema (stored under '{prompt.name}', score: {prompt.score or '-'})")
    output.out.print(prompt.schema_json, markup=False, highlight=False, soft_wrap=True)
