"""``tutor users ...`` and ``tutor tokens ...``: accounts and API tokens from the command line.

``tutor users create --email E --role R [--password P]`` asks for the password twice when it is not given
(a password on the command line stays in the shell's history). ``tutor tokens create`` prints the token
alone on standard output, so ``TOKEN=$(tutor tokens create --user E --name ci)`` keeps it; what it is and
that it will not be shown again goes to standard error.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from app.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.db.models import User

# The same as app.db.models.ROLES and app.services.tokens.SCOPES (a test keeps them equal): written out here
# so that `tutor --help` does not load the database layer.
ROLES = ("learner", "instructor", "admin")
SCOPES = ("read", "submit", "cards:write", "decks:write", "grades:write", "integrations")


class CommandError(Exception):
    """A problem to print as ``--option: message`` and exit 1 with."""


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = commands.add_parser("users", help="accounts: learners, instructors and administrators")
    user_commands = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")
    create = user_commands.add_parser("create", help="create an account")
    create.add_argument("--email", required=True, help="the account's email address")
    create.add_argument("--role", required=True, choices=ROLES, help="what the account may do")
    create.add_argument("--password", help="the password (asked for twice when left out)")

    tokens = commands.add_parser("tokens", help="API tokens for scripts and integrations")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True, metavar="COMMAND")
    make = token_commands.add_parser("create", help="create a token and print it (the only time it is shown)")
    make.add_argument("--user", required=True, metavar="EMAIL", help="whose token it is")
    make.add_argument("--name", required=True, help="what it is for, e.g. 'grading script'")
    make.add_argument(
        "--scopes",
        nargs="+",
        metavar="SCOPE",
        help=f"what it may do, from {', '.join(SCOPES)} (default: all the user's role allows)",
    )
    listing = token_commands.add_parser("list", help="the user's tokens, newest first")
    listing.add_argument("--user", required=True, metavar="EMAIL")
    revoke = token_commands.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("--user", required=True, metavar="EMAIL")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, help="the token's id (from `tutor tokens list`)")
    which.add_argument("--prefix", help="the start of the token, e.g. dt_AbC1234")


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    from app.db.migrate import current_is_head
    from app.db.session import make_engine, make_sessionmaker

    if not current_is_head(settings.database_url):
        raise CommandError("the database is not at the newest schema: run `tutor migrate` first")
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            yield session
    finally:
        engine.dispose()


def _ask_password() -> str:
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise CommandError("--password: the two passwords differ; nothing was created")
    return first


def _create_user(settings: Settings, args: argparse.Namespace) -> int:
    from app.services.accounts import AccountError, check_password, create_user, normalise_email

    try:
        normalise_email(args.email)  # a typo in the address is reported before a password is asked for
        password = args.password if args.password is not None else _ask_password()
        check_password(password)
        with _session(settings) as session:
            user = create_user(session=session, email=args.email, password=password, role=args.role)
    except AccountError as exc:
        raise CommandError(f"--{exc.field}: {exc.message}") from exc
    print(f"created {user.role} {user.email} (user {user.id})")
    return 0


def _find_user(session: Session, email: str) -> User:
    from app.services.accounts import find_user

    user = find_user(session=session, email=email)
    if user is None:
        raise CommandError(f"--user: there is no account {email.strip().lower()}")
    return user


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _tokens(settings: Settings, args: argparse.Namespace) -> int:
    from app.services.errors import NotFound
    from app.services.tokens import TokenError, create_token, list_tokens, revoke_token

    with _session(settings) as session:
        user = _find_user(session, args.user)
        try:
            if args.tokens_command == "create":
                scopes = None
                if args.scopes:
                    scopes = [scope for value in args.scopes for scope in value.split(",")]
                made = create_token(session=session, user=user, name=args.name, scopes=scopes)
                print(made.secret)
                print(
                    f"token {made.token.id} '{made.token.name}' for {user.email}, scopes: "
                    f"{', '.join(made.token.scopes)}. Keep it now: it is not shown again.",
                    file=sys.stderr,
                )
                return 0
            if args.tokens_command == "list":
                tokens = list_tokens(session=session, user_id=user.id)
                if not tokens:
                    print(f"{user.email} has no tokens")
                for token in tokens:
                    status = f"revoked {_when(token.revoked_at)}" if token.revoked_at else "active"
                    print(
                        f"{token.id}\t{token.prefix}\t{token.name}\t{','.join(token.scopes)}\t"
                        f"created {_when(token.created_at)}\tlast used {_when(token.last_used_at)}\t{status}"
                    )
                return 0
            token = revoke_token(session=session, user_id=user.id, token_id=args.id, prefix=args.prefix)
        except TokenError as exc:
            raise CommandError(f"--{exc.field}: {exc.message}") from exc
        except NotFound as exc:
            option = "id" if args.id is not None else "prefix"
            raise CommandError(f"--{option}: {user.email} has no such token") from exc
        print(f"revoked token {token.id} ({token.prefix}, '{token.name}')")
        return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run a ``users`` or ``tokens`` command; problems go to standard error with exit code 1."""
    try:
        if args.command == "users":
            return _create_user(settings, args)
        return _tokens(settings, args)
    except CommandError as exc:
        print(exc, file=sys.stderr)
        return 1
