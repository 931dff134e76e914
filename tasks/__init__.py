"""ParlAI tasks (teachers), one folder per dataset; installed as `rag_dialogue.tasks`."""
