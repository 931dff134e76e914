"""scripts/chat_rule_firings.py counts each chat check's firings on a run's world logs."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "chat_rule_firings.py"


def test_it_counts_model_and_human_replies_of_a_run(tmp_path):
    honey = "Honey is a sweet and viscous substance made by several species of bees."
    episode = {"dialog": [[
        {"text": "Honey\nHow do they make honey?", "rag_knowledge": f"Honey / {honey}",
         "eval_labels": ["Bees make it from nectar."]},
        {"text": "Bees are made by several species of honey.",  # roles turned round
         "retrieved_docs": [{"title": "Honey", "text": honey}]},
    ]]}
    for condition in ("gold_knowledge", "rag_token"):
        (tmp_path / condition).mkdir()
        (tmp_path / condition / "valid_wow.jsonl").write_text(json.dumps(episode) + "\n")
    out = subprocess.run([sys.executable, str(SCRIPT), "--run", str(tmp_path), "--wow", ""],
                         capture_output=True, text=True, check=True).stdout
    assert "| check | model (2) | human (1) |" in out
    assert "| swapped_roles | 2 | 0 |" in out  # both models said it, the human did not
