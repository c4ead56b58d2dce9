"""VideoMMMU (adaptation / comprehension / perception): lecture videos; mostly multiple choice, some open questions
in adaptation (fields: id, question, options, answer, question_type)."""

from longvt_plugins.core.protocols import upstream_questions
from longvt_plugins.lmms_eval.breakdown import agreement, by_group, count  # noqa: F401  (aggregations)
from longvt_plugins.lmms_eval.results import protocol_card  # noqa: F401  (the `protocol` metric's aggregation)
from longvt_plugins.lmms_eval.tasklib import Benchmark, as_str, options_block, prompt_kwarg, style_of

# Videos are stored per discipline: <root>/video_mmmu/<Discipline>/<id>.mp4, where the subject is the middle of
# the id ("validation_Art_Theory_12" -> "Art_Theory").
DISCIPLINES = {
    "Art": ("Art", "Art_Theory", "Design", "Music"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Humanities": ("History", "Literature", "Sociology", "Psychology"),
    "Engineering": (
        "Agriculture",
        "Architecture_and_Engineering",
        "Computer_Science",
        "Electronics",
        "Energy_and_Power",
        "Materials",
        "Mechanical_Engineering",
    ),
    "Medicine": (
        "Basic_Medical_Science",
        "Clinical_Medicine",
        "Diagnostics_and_Laboratory_Medicine",
        "Pharmacy",
        "Public_Health",
    ),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
}
_SUBJECT_TO_DISCIPLINE = {s: d for d, subjects in DISCIPLINES.items() for s in subjects}


def _video(doc):
    doc_id = as_str(doc["id"])
    if doc.get("video_path"):  # local copies may give the file directly
        return doc["video_path"]
    subject = "_".join(doc_id.split("_")[1:-1])
    discipline = _SUBJECT_TO_DISCIPLINE.get(subject)
    if discipline is None:
        raise ValueError(f"VideoMMMU doc {doc_id!r}: unknown subject {subject!r}")
    return f"{discipline}/{doc_id}.mp4"


def _is_mcq(doc):
    # Options are shown for every row that has them, whatever its question_type says: the released rows use
    # "multiple-choice" and "open", and perception rows with options must not lose them to a type we did not
    # expect (`longvt eval check-data` lists the types and how many rows of each carry options).
    return bool(doc.get("options"))


def _question(doc, kwargs):
    text = as_str(doc["question"])
    if _is_mcq(doc):
        text = f"{text}\n{options_block(doc['options'])}"
    extra = prompt_kwarg(kwargs, "post_question_prompt")
    return f"{text}\n{extra}" if extra else text


def _framings(doc, kwargs):
    # Upstream's text: the adaptation pre-prompt ("multi-choice question") or the quiz note after the options
    # (perception, comprehension), by the row's question_type (core.protocols.upstream_questions).
    text = upstream_questions.videommmu(
        style_of(kwargs),
        str(kwargs.get("subset") or ""),
        str(doc["question"]),
        doc.get("options"),
        doc.get("question_type"),
    )
    return {"upstream": text}


def _judge_questions(doc, kwargs):
    if not kwargs.get("subset"):
        return {}
    text = upstream_questions.videommmu_judge(
        str(kwargs["subset"]), str(doc["question"]), doc.get("options"), doc.get("question_type")
    )
    return {"upstream": text}


BENCH = Benchmark(
    "video_mmmu",
    video=_video,
    question=_question,
    target=lambda doc: doc["answer"],
    options=lambda doc: (
        "".join(chr(ord("A") + i) for i in range(len(doc["options"]))) if _is_mcq(doc) else None
    ),
    # The paper reports the adaptation column on multiple-choice items only: accuracy per kind is reported.
    groups=lambda doc: {"by_question_type": "multiple-choice" if _is_mcq(doc) else "open"},
    framings=_framings,
    judge_questions=_judge_questions,
    benchmark="videommmu",  # under upstream, its non-think rows are scored by lmms-eval's built-in task
)

doc_to_visual = BENCH.doc_to_visual
doc_to_text = BENCH.doc_to_text
doc_to_messages = BENCH.doc_to_messages
doc_to_target = BENCH.doc_to_target
# The template's default; every task YAML names its subset's own below.
process_non_think = BENCH.process_non_think
process_think = BENCH.process_think
process_tool = BENCH.process_tool
# Per subset: upstream's judge question is the subset's own text (adaptation: with its pre-prompt).
process_non_think_adaptation = BENCH.processor("non_think", subset="adaptation")
process_non_think_comprehension = BENCH.processor("non_think", subset="comprehension")
process_non_think_perception = BENCH.processor("non_think", subset="perception")
process_think_adaptation = BENCH.processor("think", subset="adaptation")
process_think_comprehension = BENCH.processor("think", subset="comprehension")
process_think_perception = BENCH.processor("think", subset="perception")
process_tool_adaptation = BENCH.processor("tool", subset="adaptation")
process_tool_comprehension = BENCH.processor("tool", subset="comprehension")
process_tool_perception = BENCH.processor("tool", subset="perception")
