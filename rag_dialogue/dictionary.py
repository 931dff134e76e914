"""ParlAI dictionary over the generator's own Hugging Face tokenizer."""

from types import SimpleNamespace

from parlai.agents.hugging_face.dict import HuggingFaceDictionaryAgent

from rag_dialogue.utils import write_text_atomic


class GeneratorDictionary(HuggingFaceDictionaryAgent):
    """The generator's tokenizer as a ParlAI dictionary.

    Special tokens follow the generator's config: null = pad, start = the decoder
    start token, end = eos. Tokenising never truncates (ParlAI truncates the history
    from the left, so the newest turn survives) and never adds special tokens (the
    model adds them around each passage + history context).
    """

    add_special_tokens = False
    skip_decode_special_tokens = True

    def get_tokenizer(self, opt):
        from transformers import AutoConfig, AutoTokenizer, GenerationConfig

        from rag_dialogue.generator import resolve_hf_dir

        source = resolve_hf_dir(opt, "generator")
        config = AutoConfig.from_pretrained(source)
        try:
            generation = GenerationConfig.from_pretrained(source)
        except OSError:
            generation = None
        self._generator = SimpleNamespace(config=config, generation_config=generation)
        return AutoTokenizer.from_pretrained(source)

    def override_special_tokens(self, opt):
        from rag_dialogue.generator import generator_special_ids

        tok = self.hf_tokenizer
        ids = generator_special_ids(self._generator, tok)
        self.null_token = tok.convert_ids_to_tokens(ids["pad"])
        self.start_token = tok.convert_ids_to_tokens(ids["start"])
        self.end_token = tok.convert_ids_to_tokens(ids["end"])
        self.unk_token = tok.unk_token or self.null_token

    def txt2vec(self, text, vec_type=list):
        return self.hf_tokenizer.encode(text, add_special_tokens=False)

    def vec2txt(self, vec, **kwargs):
        return self.hf_tokenizer.decode(
            list(vec), skip_special_tokens=True, clean_up_tokenization_spaces=True
        ).strip()

    def save(self, filename=None, append=False, sort=True):
        # The vocabulary is the tokenizer's and must keep its ids: ParlAI's default
        # save re-sorts by frequency. Write it in id order, for reading only.
        filename = filename or self.opt["dict_file"]
        vocab = sorted(self.tok2ind.items(), key=lambda kv: kv[1])
        write_text_atomic(filename, "".join(f"{tok}\t1\n" for tok, _ in vocab))
