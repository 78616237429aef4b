"""list-prompts, show-prompt, user prompts (files and folders) and annotation-summary."""

from __future__ import annotations

import json
from pathlib import Path

from bonepick.io import find_shards, read_rows, write_rows

BUILT_IN_TASKS = [
    "code_quality",
    "fineweb_edu",
    "lens_code_quality",
    "lens_instruction_following",
    "lens_learning_value",
    "lens_textbook_depth",
    "lens_textbook_quality",
    "sft_filter",
]


def test_list_and_show_built_in_prompts(cli):
    result = cli("list-prompts")
    for name in [*BUILT_IN_TASKS, "annotator", "code_reviewer", "instruction_judge"]:
        assert name in result.output
    assert "instruction, output" in result.output  # the two-input lens
    result = cli("list-prompts", "system")
    assert "annotator" in result.output and "fineweb_edu" not in result.output
    assert "use task or system" in cli("list-prompts", "tasks", expect=1).output

    result = cli("show-prompt", "fineweb_edu")
    assert "system: annotator" in result.output
    assert "Photosynthesis is the process" in result.output  # the example
    assert '"maximum": 5' in result.output
    result = cli("show-prompt", "fineweb_edu", "--text", "word " * 400, "--max-text-length", "100")
    assert "document truncated: the first" in result.output and "was cut to fit" in result.output
    result = cli("show-prompt", "sft_filter")
    assert "[user]\nHow many seconds" in result.output
    assert "You rate documents" in cli("show-prompt", "annotator").output
    result = cli("show-prompt", "fineweb", expect=1)
    assert "unknown task prompt 'fineweb'" in result.output and "did you mean fineweb_edu" in result.output


def _folder_prompt(root: Path) -> Path:
    folder = root / "prompts" / "toxicity"
    folder.mkdir(parents=True)
    (folder / "prompt.yaml").write_text(
        "kind: task\n"
        "description: Toxicity of a reply to a message.\n"
        "inputs:\n"
        "  - {name: message, expression: .msg}\n"
        "  - {name: reply, expression: .reply}\n"
        "score: toxicity\n"
        "buckets: {thresholds: [1, 2], names: [clean, rude, toxic]}\n"
        "example: {message: hi, reply: hello}\n"
    )
    (folder / "template.j2").write_text(
        "Message: {{ message }}\nReply: {{ reply }}\nRate the reply's toxicity."
    )
    (folder / "schema.json").write_text(
        json.dumps(
            {"type": "object", "properties": {"toxicity": {"type": "integer", "minimum": 0, "maximum": 3}}}
        )
    )
    return folder


def test_user_prompts_from_folders_and_files(cli, openai_server, openai_key, tmp_path):
    folder = _folder_prompt(tmp_path)
    result = cli("list-prompts", "task", "--prompt-dir", tmp_path / "prompts")
    assert "Toxicity of a reply to a message." in result.output and "source" in result.output
    data = tmp_path / "data"
    write_rows(
        data / "train" / "a.jsonl",
        [{"msg": "hello [[score=2]]", "reply": "go away"}, {"msg": "hi", "reply": "hi!"}],
    )
    common = ["-m", "test-model", "--base-url", openai_server.base_url, "-c", tmp_path / "cache"]
    cli(
        "annotate-dataset",
        "-d",
        data,
        "-o",
        tmp_path / "out",
        "-T",
        "toxicity",
        "--prompt-dir",
        tmp_path / "prompts",
        *common,
    )
    rows = list(read_rows(find_shards(tmp_path / "out")[0]))
    assert rows[0]["toxicity"] == {"toxicity": 2} and set(rows[1]["toxicity"]) == {"toxicity"}
    assert openai_server.requests()[0]["body"]["messages"][0]["role"] == "user"  # no system prompt declared
    result = cli("annotation-summary", "-d", tmp_path / "out", "-T", folder)
    assert "clean" in result.output and "toxic" in result.output

    # a single YAML file, given by path, with a system prompt file too
    (tmp_path / "short.yaml").write_text(
        "template: 'Is this spam? {{ text }}'\nschema: {type: object, properties: {spam: {type: boolean}}}\n"
    )
    (tmp_path / "sys.yaml").write_text("kind: system\ntemplate: You are terse.\n")
    out = tmp_path / "out2"
    cli(
        "annotate-dataset",
        "-d",
        data,
        "-o",
        out,
        "-T",
        tmp_path / "short.yaml",
        "-S",
        tmp_path / "sys.yaml",
        "-i",
        ".msg",
        *common,
    )
    rows = list(read_rows(find_shards(out)[0]))
    assert isinstance(rows[0]["short"]["spam"], bool)
    assert openai_server.requests()[-1]["body"]["messages"][0] == {
        "role": "system",
        "content": "You are terse.",
    }


def test_broken_prompts_name_the_file(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("template: 'Rate {{ txt }}'\nschema: {type: object, properties: {s: {type: integer}}}\n")
    result = cli("show-prompt", bad, expect=1)
    assert f"{bad}: the template uses ['txt']" in result.output and "Traceback" not in result.output
    bad.write_text("template: 'Rate {{ text }'\nschema: {type: object, properties: {s: {type: integer}}}\n")
    assert "template syntax error on line 1" in cli("show-prompt", bad, expect=1).output
    bad.write_text("template: 'Rate {{ text }}'\n")
    assert "needs an output schema" in cli("show-prompt", bad, expect=1).output
    bad.write_text("template: x\nschema: {type: object, properties: {s: {type: integer}}}\nscore: t\n")
    assert "score field 't' is not a property" in cli("show-prompt", bad, expect=1).output
    bad.write_text("template: x\nschem: {}\n")
    assert "unknown prompt keys ['schem']" in cli("show-prompt", bad, expect=1).output
    bad.write_text("template: [unclosed\n")
    assert "not valid YAML" in cli("show-prompt", bad, expect=1).output
    assert "no such prompt file" in cli("show-prompt", tmp_path / "missing.yaml", expect=1).output


def test_annotation_summary_means_buckets_and_csv(cli, openai_server, openai_key, tmp_path):
    data = tmp_path / "data"
    scores = [0, 1, 2, 2, 3, 3, 3, 4, 5, 5]
    write_rows(data / "train" / "a.jsonl", [{"text": f"doc {i} [[score={s}]]"} for i, s in enumerate(scores)])
    write_rows(
        data / "test" / "a.jsonl", [{"text": "test doc [[score=4]]"}, {"text": "broken BONEPICK-FAIL"}]
    )
    out = tmp_path / "out"
    cli(
        "annotate-dataset", "-d", data, "-o", out, "-m", "test-model", "-T", "fineweb_edu",
        "--base-url", openai_server.base_url, "-c", tmp_path / "cache", "--max-retries", "0",
    )  # fmt: skip
    csv_path = tmp_path / "summary.csv"
    result = cli("annotation-summary", "-d", out, "-T", "fineweb_edu", "--csv", csv_path)
    assert "3.3333" not in result.output  # means are per split
    assert "2.8000" in result.output  # train mean
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "split,kind,name,count,share,mean,std,min,max"
    assert "train,field,score,10,,2.8000,1.6193,0.0000,5.0000" in lines
    # fineweb_edu buckets: Poor < 1.5 <= Low < 2.5 <= Medium < 3.5 <= Good
    assert "train,bucket,Poor,2,0.2000,,,," in lines
    assert "train,bucket,Low,2,0.2000,,,," in lines
    assert "train,bucket,Medium,3,0.3000,,,," in lines
    assert "train,bucket,Good,3,0.3000,,,," in lines
    assert "test,rows,failed,1,0.5000,,,," in lines
    assert "all,field,score,11,,2.9091,1.5783,0.0000,5.0000" in lines
    assert "all,value,3,3,0.2727,,,," in lines

    result = cli(
        "annotation-summary", "-d", out, "-T", "fineweb_edu", "--buckets", "3", "--bucket-names", "drop,keep"
    )
    assert "drop" in result.output and "keep" in result.output
    result = cli(
        "annotation-summary",
        "-d",
        out,
        "-T",
        "fineweb_edu",
        "--buckets",
        "3",
        "--bucket-names",
        "a,b,c",
        expect=1,
    )
    assert "1 bucket thresholds need 2 names, got 3" in result.output
    result = cli("annotation-summary", "-d", data, "-T", "fineweb_edu", expect=1)
    assert "no row has the field 'fineweb_edu'" in result.output


def test_every_built_in_prompt_renders_and_validates(cli):
    from bonepick.annotate.prompts import PromptLibrary
    from bonepick.annotate.runner import format_conversation
    from bonepick.annotate.schema import ReplyValidator, strict_schema

    library = PromptLibrary(use_env=False)
    assert [p.name for p in library.all("task")] == BUILT_IN_TASKS
    for prompt in library.all("task"):
        values = {k: format_conversation(v) if isinstance(v, list) else v for k, v in prompt.example.items()}
        text = prompt.render(values)
        for value in values.values():
            assert value.strip()[:30] in text
        assert prompt.system and library.get(prompt.system, "system")
        assert strict_schema(prompt.schema) is not None, prompt.name  # usable with strict structured outputs
        assert prompt.score_is_numeric and prompt.default_buckets() is not None
        ReplyValidator(prompt.schema)
