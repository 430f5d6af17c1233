"""``blockforge chat``: a terminal conversation with a model directory's model, using its chat template.

Each turn, the conversation is rendered with the template's turn markers (stored in the directory's
``generation.json``), the oldest turns are dropped until prompt and reply fit in ``max_len``, and the reply
streams as it is generated; it ends at the template's ``end`` marker or the end-of-sequence token.
Ctrl-C while the model writes stops the reply (the conversation goes on); Ctrl-C or end of input at the
prompt ends the chat. ``/reset`` forgets the conversation, ``/exit`` ends it.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from blockforge.cli._app import err, user_errors
from blockforge.cli.generate import DeviceOpt, DtypeOpt, ModelDirArg, load_for_generation


def chat(
    ctx: typer.Context,
    model_dir: ModelDirArg,
    system: Annotated[Optional[str], typer.Option(help="A system prompt opening the conversation.")] = None,  # noqa: UP007
    max_new_tokens: Annotated[Optional[int], typer.Option(min=1, help="Longest reply in tokens (default: the directory's generation defaults).")] = None,  # noqa: UP007
    do_sample: Annotated[Optional[bool], typer.Option("--sample/--greedy", help="Sample, or take the most likely token.")] = None,  # noqa: UP007
    seed: Annotated[Optional[int], typer.Option(help="Sampling seed.")] = None,  # noqa: UP007
    device: DeviceOpt = "cpu",
    dtype: DtypeOpt = None,
) -> None:
    """Talk with a model: type a message, read the reply; /reset forgets, /exit (or Ctrl-D, Ctrl-C) ends."""
    with user_errors():
        model, tokenizer, config = load_for_generation(ctx, model_dir, device=device, dtype=dtype)
        from blockforge.errors import BlockforgeError
        from blockforge.modeldir import ChatTemplate

        if tokenizer is None:
            raise BlockforgeError(f"{model_dir} has no tokenizer.json: chat needs one (put it there with "
                                  "`blockforge build SPEC -o DIR --tokenizer tokenizer.json` or save_model)")
        template = config.chat_template or ChatTemplate()
        if config.chat_template is None:
            err.print(f"{model_dir}: no chat template in generation.json; using the default turn markers")
        session = _Session(model, tokenizer, config, template, system=system, device=device, seed=seed,
                           max_new_tokens=max_new_tokens or config.max_new_tokens,
                           do_sample=config.do_sample if do_sample is None else do_sample)
        session.run()


class _Session:
    """One conversation: its turns and the loop that reads, generates and prints."""

    def __init__(self, model, tokenizer, config, template, *, system, device, seed, max_new_tokens, do_sample):  # type: ignore[no-untyped-def]
        self.model, self.tokenizer, self.config, self.template = model, tokenizer, config, template
        self.system, self.device, self.seed = system, device, seed
        self.max_new_tokens, self.do_sample = max_new_tokens, do_sample
        self.turns: list[tuple[str, str]] = []
        self.max_len = int(model.max_len)

    def run(self) -> None:
        while True:
            try:
                line = input("you> ")
            except (EOFError, KeyboardInterrupt):
                sys.stdout.write("\n")
                return
            text = line.strip()
            if text in ("/exit", "/quit"):
                return
            if text == "/reset":
                self.turns.clear()
                sys.stdout.write("(conversation forgotten)\n")
                continue
            if text:
                self.reply(text)

    def _prompt_ids(self, message: str) -> list[int] | None:
        """The conversation with ``message`` as token ids, oldest turns dropped to leave room for a reply."""
        room = self.max_len - min(self.max_new_tokens, self.max_len // 2)
        turns = [*self.turns, ("user", message)]
        while turns:
            ids = self.tokenizer.encode(self.template.render(turns, system=self.system)).ids
            if len(ids) <= room:
                if len(turns) <= len(self.turns):
                    err.print(f"(history trimmed to fit max_len={self.max_len})")
                return ids
            turns = turns[1:]
        return None

    def reply(self, message: str) -> None:
        import torch

        from blockforge.generation import TextStreamer, generate

        ids = self._prompt_ids(message)
        if ids is None:
            err.print(f"(the message is too long for max_len={self.max_len}; say it in fewer words)")
            return
        budget = min(self.max_new_tokens, self.max_len - len(ids))
        end = self.template.end
        stops = (end,) if end.strip() or end else ()
        streamer = TextStreamer(self.tokenizer, _write, stop_strings=tuple([*stops, *self.config.stop]))
        sys.stdout.write("model> ")
        try:
            generate(self.model, torch.tensor([ids], device=self.device), max_new_tokens=budget,
                     do_sample=self.do_sample, temperature=self.config.temperature, top_k=self.config.top_k,
                     top_p=self.config.top_p, repetition_penalty=self.config.repetition_penalty,
                     eos_token_id=self.config.eos_ids() or None, pad_token_id=self.config.pad_token_id,
                     seed=self.seed, streamer=streamer, stop_strings=streamer.stop_strings,
                     tokenizer=self.tokenizer)
        except KeyboardInterrupt:
            sys.stdout.write("\n(reply interrupted)\n")
        self.turns += [("user", message), ("assistant", streamer.text.strip())]


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


__all__ = ["chat"]
