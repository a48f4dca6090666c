"""The shell on a terminal: a prompt with history, completion and a live toolbar.

Ctrl-C cancels and never quits: at the prompt it clears the line, while a command runs
it stops that command. Leaving is `quit` or Ctrl-D, and asks first when that stops
downloads or sharing. A line printed while the prompt (or a running command's status)
is shown lands above it, and the prompt is redrawn intact.
"""

from __future__ import annotations

import asyncio
import shlex
import signal
from pathlib import Path
from typing import TextIO, cast

from prompt_toolkit import PromptSession
from prompt_toolkit.application import Application, get_app_or_none, run_in_terminal
from prompt_toolkit.input.typeahead import store_typeahead
from prompt_toolkit.key_binding import KeyBindings, KeyPress, KeyPressEvent
from prompt_toolkit.layout import Layout, Window
from prompt_toolkit.layout.controls import FormattedTextControl
from prompt_toolkit.layout.processors import Processor, Transformation, TransformationInput

from minitorrent.client.commands import Client
from minitorrent.client.completion import Lookups, ShellCompleter
from minitorrent.client.figures import plural
from minitorrent.client.history import ShellHistory
from minitorrent.client.passwords import carries_password, password_position
from minitorrent.client.shell import Shell, strip_comment
from minitorrent.client.toolbar import running_downloads, shared_files, status_lines
from minitorrent.peer.transfer import Transfer
from minitorrent.units import human_size

PROMPT = "minitorrent> "
BUSY_DELAY = 0.3  # seconds before a running command shows its status (quick ones never do)
# While a command runs: what Ctrl-C does; once it did: what happened.
_HINTS = {
    "wait": "waiting for the downloads to end; Ctrl-C stops waiting (they go on)",
    "serve": "serving; Ctrl-C returns to the prompt (files stay shared)",
}
_CANCELLED = {
    "wait": "stopped waiting; the downloads go on",
    "serve": "back at the prompt; still sharing",
}


async def run(shell: Shell, history_path: Path) -> None:
    """Read and run command lines until quit or Ctrl-D."""
    terminal = Terminal(shell, history_path)
    out, err = shell.out, shell.err
    shell.out = cast(TextIO, AbovePrompt(out, terminal.printing))
    shell.err = cast(TextIO, AbovePrompt(err, terminal.printing))
    try:
        await terminal.loop()
    finally:
        shell.out, shell.err = out, err
        await asyncio.to_thread(terminal.history.close)


class AbovePrompt:
    """A terminal stream that prints above the prompt (or a running command's status)
    while one is shown, so that it is redrawn intact below; else it writes at once, so
    that a command's output is on screen before the next prompt. Used from the event
    loop only; has what print() and rich use."""

    def __init__(self, stream: TextIO, printing: set[asyncio.Future[None]]) -> None:
        self.stream = stream
        self.printing = printing  # lines waiting to be printed above a prompt
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            lines, _, self._pending = self._pending.rpartition("\n")
            self._emit(lines + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = ""

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return self.stream.encoding

    def _emit(self, text: str) -> None:
        app = get_app_or_none()
        if app is not None and app.is_running:
            printed = asyncio.ensure_future(run_in_terminal(lambda: self._write_now(text)))
            self.printing.add(printed)
            printed.add_done_callback(self.printing.discard)
        else:
            self._write_now(text)

    def _write_now(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class Terminal:
    def __init__(self, shell: Shell, history_path: Path) -> None:
        self.shell = shell
        self.client = shell.client
        self.lookups = Lookups(shell.client)
        self.history = ShellHistory(
            history_path, lambda line: carries_password(line, shell.commands)
        )
        self.prompt: PromptSession[str] = PromptSession(
            history=self.history,
            completer=ShellCompleter(shell.commands, self.lookups),
            complete_while_typing=False,
            refresh_interval=1.0,
        )
        self.prompt.app.before_render += lambda _: self._update_toolbar()
        self.questions: PromptSession[str] = PromptSession()  # passwords, y/N: no history
        self.running: asyncio.Task[None] | None = None
        self.printing: set[asyncio.Future[None]] = set()
        self._report_downloads()

    # -- the loop --------------------------------------------------------------------

    async def loop(self) -> None:
        loop = asyncio.get_running_loop()
        # The terminal sends SIGINT for Ctrl-C while no prompt reads keys.
        loop.add_signal_handler(signal.SIGINT, self._interrupt)
        while True:
            try:
                line = await self.prompt.prompt_async(PROMPT, handle_sigint=False)
            except KeyboardInterrupt:
                continue  # Ctrl-C: a fresh line
            except EOFError:
                if await self._may_quit():
                    return
                continue
            full = await self._with_password(line)
            if full is not None:
                await self._run(full)
                self.lookups.refresh()
            if self.shell.quit_requested:
                if await self._may_quit():
                    return
                self.shell.quit_requested = False

    async def _run(self, line: str) -> None:
        """Run one line; Ctrl-C (a key or SIGINT) cancels it."""
        name = line.split()[0] if line.split() else ""
        await self._printed()
        task = asyncio.create_task(self.shell.run_line(line))
        self.running = task
        status = asyncio.create_task(self._show_status(task, name))
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the client itself is stopping (SIGTERM)
            # "\r": over the ^C that the terminal echoes for SIGINT
            self.shell.say("\r" + _CANCELLED.get(name, f"{name} cancelled"))
        finally:
            self.running = None
            await status
            await self._printed()  # before the next prompt: its output, in order

    async def _printed(self) -> None:
        """Until the lines handed to a prompt (or status) that has ended are printed."""
        if self.printing:
            await asyncio.wait(set(self.printing))

    def _interrupt(self) -> None:
        if self.running is not None:
            self.running.cancel()

    # -- status while a command runs --------------------------------------------------

    async def _show_status(self, task: asyncio.Task[None], name: str) -> None:
        done, _ = await asyncio.wait({task}, timeout=BUSY_DELAY)
        if done:
            return
        keys = KeyBindings()
        typed: list[KeyPress] = []  # type-ahead, for the next prompt (as a terminal keeps it)

        @keys.add("<any>")
        def _keep(event: KeyPressEvent) -> None:
            typed.extend(event.key_sequence)

        @keys.add("c-c")
        def _cancel(event: KeyPressEvent) -> None:
            typed.clear()  # as the terminal flushes its input on ^C
            task.cancel()

        def text() -> str:
            hint = _HINTS.get(name, f"{name} running; Ctrl-C cancels it")
            return "\n".join([*status_lines(self.client), hint])

        app: Application[None] = Application(
            layout=Layout(
                Window(
                    FormattedTextControl(text),
                    style="class:bottom-toolbar",
                    dont_extend_height=True,
                )
            ),
            key_bindings=keys,
            refresh_interval=1.0,
            erase_when_done=True,
        )

        def exit_once_done(_: object) -> None:
            if app.future is not None and not app.future.done():
                app.exit()

        await app.run_async(
            pre_run=lambda: task.add_done_callback(exit_once_done), handle_sigint=False
        )
        store_typeahead(app.input, typed)

    def _update_toolbar(self) -> None:
        lines = status_lines(self.client)
        self.prompt.bottom_toolbar = "\n".join(lines) if lines else None

    # -- downloads ending -------------------------------------------------------------

    def _report_downloads(self) -> None:
        """One [C] or [F] line when a download ends, above the prompt."""
        node = self.client.node
        finished = node.on_download_done

        def done(transfer: Transfer) -> None:
            finished(transfer)
            took = (transfer.finished_at or transfer.started_at) - transfer.started_at
            size = human_size(transfer.swarm.info.length)
            self.shell.say(f"[C] [{transfer.group_id}] {transfer.name} {size} in {took:.1f} s")

        def failed(transfer: Transfer) -> None:
            reason = transfer.swarm.reason or "failed"
            self.shell.say(f"[F] [{transfer.group_id}] {transfer.name}: {reason}")

        node.on_download_done = done
        node.tell_download_failed = failed

    # -- questions --------------------------------------------------------------------

    async def _with_password(self, line: str) -> str | None:
        """The line, with the password asked for (without echo) when it was left out;
        None when the user gave up (Ctrl-C) or typed two different ones."""
        try:
            words = shlex.split(strip_comment(line))
        except ValueError:
            return line  # run_line says what is wrong
        command = self.shell.commands.get(words[0]) if words else None
        position = password_position(command) if command is not None else None
        if command is None or position is None or len(words) != position + 1:
            return line
        try:
            password = await self._ask("password: ", secret=True)
            if command.name == "create_user":
                again = await self._ask("password again: ", secret=True)
                if again != password:
                    self.shell.error("the passwords differ; nothing done")
                    return None
        except (KeyboardInterrupt, EOFError):
            return None
        return shlex.join([*words, password])

    async def _ask(self, question: str, *, secret: bool = False) -> str:
        hide: list[Processor] = [_Hidden()] if secret else []
        return await self.questions.prompt_async(
            question, input_processors=hide, handle_sigint=False
        )

    async def _may_quit(self) -> bool:
        """Whether to quit: yes, unless that stops downloads or sharing and the user,
        asked once, does not confirm."""
        warning = quit_warning(self.client)
        if warning is None:
            return True
        self.shell.say(warning)
        try:
            answer = await self._ask("quit anyway? [y/N] ")
        except KeyboardInterrupt:
            return False
        except EOFError:
            return True  # Ctrl-D again (or the terminal is gone)
        return answer.strip().lower() in ("y", "yes")


class _Hidden(Processor):
    """Shows nothing of what is typed, not even its length (as getpass and sudo do)."""

    def apply_transformation(self, ti: TransformationInput) -> Transformation:
        return Transformation([], source_to_display=lambda i: 0, display_to_source=lambda i: 0)


def quit_warning(client: Client) -> str | None:
    """What quitting would stop, or None when it stops nothing."""
    downloads = running_downloads(client)
    seeds = shared_files(client)
    if client.session is None or not (downloads or seeds):
        return None
    stops = []
    if downloads:
        stops.append(
            f"{plural(len(downloads), 'download')} ({_names(downloads)}; "
            "resumed at your next login)"
        )
    if seeds:
        stops.append(
            f"sharing {plural(len(seeds), 'file')} ({_names(seeds)}; shared again at "
            "your next login)"
        )
    return f"quitting logs '{client.session.user_id}' out and stops " + " and ".join(stops) + "."


def _names(transfers: list[Transfer], shown: int = 3) -> str:
    names = ", ".join(t.name for t in transfers[:shown])
    return names + (f" and {len(transfers) - shown} more" if len(transfers) > shown else "")
