"""Signing in, up and out, and the account page with its API tokens.

Signing in or up gives the browser a new session (a new random session id) and hands the guest's history to
the account. Failed sign-ins are counted per email and per address; too many lock both out for a while
(429 with ``Retry-After``), and the form says so.
"""

from __future__ import annotations

import math
from typing import Annotated, Final

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from app.db.models import User
from app.services.accounts import (
    MIN_PASSWORD_LENGTH,
    AccountError,
    authenticate,
    check_password,
    claim_guest_history,
    create_user,
    end_sessions,
    normalise_email,
)
from app.services.errors import NotFound
from app.services.throttle import SignInThrottle
from app.services.tokens import SCOPES, NewToken, TokenError, allowed_scopes, create_token, list_tokens, revoke_token
from app.web.auth import OptionalUserDep, UserDep, end_session, safe_next, start_session, token_scopes
from app.web.db import SessionDep
from app.web.guest import known_guest_id
from app.web.pages.rendering import not_found_page, render_page, url_path
from app.web.rate_limits import refusal_sentence, signin_refusal

router = APIRouter()

MAX_FIELD: Final = 2000  # longer than any email or password we accept; the services say what is wrong


async def read_form(request: Request) -> FormData:
    """The posted form, read before the (synchronous) route runs on the thread pool."""
    return await request.form()


FormDep = Annotated[FormData, Depends(read_form)]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:MAX_FIELD] if isinstance(value, str) else ""


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _throttle(request: Request) -> SignInThrottle:
    throttle: SignInThrottle = request.app.state.signin_throttle
    return throttle


def _after_signin(request: Request, next_url: str | None) -> str:
    return next_url or url_path(request, "page_index")


def _wait_words(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}" if seconds >= 60 else f"{seconds} seconds"


# --- signing in -----------------------------------------------------------------------------------------------


def _signin_page(
    request: Request,
    *,
    email: str = "",
    next_url: str | None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {"email": email, "next_url": next_url, "errors": errors or {}, "notice": notice, "nav": "signin"}
    return render_page(request, "signin.html", context, status_code=status_code)


def _locked(request: Request, *, email: str, next_url: str | None, wait: int) -> HTMLResponse:
    message = (
        "Too many failed sign-ins for this account or from this network. "
        f"Sign-in is paused: try again in {_wait_words(wait)}."
    )
    response = _signin_page(request, email=email, next_url=next_url, errors={"form": message}, status_code=429)
    response.headers["Retry-After"] = str(wait)
    return response


@router.get("/signin", name="page_signin")
def signin_form(request: Request, user: OptionalUserDep, next: str | None = None) -> Response:
    next_url = safe_next(next)
    if user is not None and token_scopes(request) is None:
        return RedirectResponse(_after_signin(request, next_url), status_code=303)
    return _signin_page(request, next_url=next_url)


@router.post("/signin", name="page_signin_submit")
def signin(request: Request, session: SessionDep, form: FormDep) -> Response:
    email = _text(form, "email").strip()
    password = _text(form, "password")
    next_url = safe_next(_text(form, "next"))
    errors = {}
    if not email:
        errors["email"] = "Enter your email address."
    if not password:
        errors["password"] = "Enter your password."
    if errors:
        return _signin_page(request, email=email, next_url=next_url, errors=errors, status_code=422)
    refusal = signin_refusal(request)  # every attempt counts: each one costs a password hash
    if refusal is not None:
        message = refusal_sentence(refusal) + ", then sign in again."
        paused = _signin_page(request, email=email, next_url=next_url, errors={"form": message}, status_code=429)
        paused.headers["Retry-After"] = str(refusal.retry_after)
        return paused
    throttle, address = _throttle(request), _address(request)
    wait = throttle.retry_after(email=email, address=address)
    if wait:
        return _locked(request, email=email, next_url=next_url, wait=wait)
    user = authenticate(session=session, email=email, password=password)
    if user is None:
        wait = throttle.failed(email=email, address=address)
        if wait:
            return _locked(request, email=email, next_url=next_url, wait=wait)
        # One message for both cases, so the form does not tell which addresses have accounts.
        errors["password"] = "The email address or the password is not right."
        return _signin_page(request, email=email, next_url=next_url, errors=errors, status_code=400)
    throttle.succeeded(email=email, address=address)
    claim_guest_history(session=session, user=user, guest_id=known_guest_id(request))
    response = RedirectResponse(_after_signin(request, next_url), status_code=303)
    start_session(request, response, user)
    return response


# --- signing up -----------------------------------------------------------------------------------------------


def _signup_page(
    request: Request,
    *,
    email: str = "",
    next_url: str | None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "email": email,
        "next_url": next_url,
        "errors": errors or {},
        "min_length": MIN_PASSWORD_LENGTH,
        "nav": "signup",
    }
    return render_page(request, "signup.html", context, status_code=status_code)


@router.get("/signup", name="page_signup")
def signup_form(request: Request, user: OptionalUserDep, next: str | None = None) -> Response:
    next_url = safe_next(next)
    if user is not None and token_scopes(request) is None:
        return RedirectResponse(_after_signin(request, next_url), status_code=303)
    return _signup_page(request, next_url=next_url)


@router.post("/signup", name="page_signup_submit")
def signup(request: Request, session: SessionDep, form: FormDep) -> Response:
    email = _text(form, "email").strip()
    password = _text(form, "password")
    confirm = _text(form, "confirm")
    next_url = safe_next(_text(form, "next"))
    # Every field is checked, so one round trip reports every problem.
    errors: dict[str, str] = {}
    for field, check in (("email", lambda: normalise_email(email)), ("password", lambda: check_password(password))):
        try:
            check()
        except AccountError as exc:
            errors[field] = _sentence(exc)
    if "password" not in errors and confirm != password:
        errors["confirm"] = "The two passwords differ; type the same password twice."
    if not errors:
        try:
            # Learners sign themselves up; instructors and administrators are made with `tutor users create`.
            user = create_user(session=session, email=email, password=password, role="learner")
        except AccountError as exc:
            errors[exc.field] = _sentence(exc)
    if errors:
        return _signup_page(request, email=email, next_url=next_url, errors=errors, status_code=422)
    claim_guest_history(session=session, user=user, guest_id=known_guest_id(request))
    response = RedirectResponse(_after_signin(request, next_url), status_code=303)
    start_session(request, response, user)
    return response


_FIELD_NAMES: Final = {"email": "The email address", "password": "The password"}


def _sentence(exc: AccountError) -> str:
    """``AccountError("email", "is required")`` → "The email address is required." for the form."""
    subject = _FIELD_NAMES.get(exc.field)
    if subject is None:
        return exc.message
    text = f"{subject} {exc.message}"
    return text if text.endswith(".") else text + "."


# --- signing out ----------------------------------------------------------------------------------------------


@router.post("/signout", name="page_signout")
def signout(request: Request, session: SessionDep) -> Response:
    response = RedirectResponse(url_path(request, "page_index"), status_code=303)
    end_session(request, response, session)
    return response


# --- the account page and its tokens -------------------------------------------------------------------------


def browser_user(request: Request, user: UserDep) -> User:
    """The signed-in user of a browser session: an API token may not manage tokens (it could mint itself more)."""
    if token_scopes(request) is not None:
        raise HTTPException(403, "API tokens are managed from a signed-in browser, not with a token")
    return user


BrowserUserDep = Annotated[User, Depends(browser_user)]


def _account_page(
    request: Request,
    session: SessionDep,
    user: User,
    *,
    new_token: NewToken | None = None,
    name: str = "",
    chosen: list[str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    allowed = allowed_scopes(user.role)
    context = {
        "user": user,
        "tokens": list_tokens(session=session, user_id=user.id),
        "scopes": allowed,
        "chosen": set(allowed if chosen is None else chosen),
        "name": name,
        "new_token": new_token,
        "errors": errors or {},
        "nav": "account",
    }
    response = render_page(request, "account.html", context, status_code=status_code)
    # The page may show a token's only copy: no cache, no back-button copy.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/account", name="page_account")
def account(request: Request, session: SessionDep, user: BrowserUserDep) -> HTMLResponse:
    return _account_page(request, session, user)


@router.post("/account/tokens", name="page_create_token")
def create_token_form(request: Request, session: SessionDep, user: BrowserUserDep, form: FormDep) -> HTMLResponse:
    name = _text(form, "name")
    chosen = [value for value in form.getlist("scopes") if isinstance(value, str)][: len(SCOPES)]
    try:
        made = create_token(session=session, user=user, name=name, scopes=chosen or None)
    except TokenError as exc:
        return _account_page(
            request, session, user, name=name, chosen=chosen, errors={exc.field: exc.message}, status_code=422
        )
    return _account_page(request, session, user, new_token=made, status_code=201)


@router.post("/account/tokens/{token_id}/revoke", name="page_revoke_token")
def revoke_token_form(request: Request, token_id: str, session: SessionDep, user: BrowserUserDep) -> Response:
    if not token_id.isascii() or not token_id.isdigit() or len(token_id) > 18:
        return not_found_page(request, "There is no token of yours with this number.")
    try:
        revoke_token(session=session, user_id=user.id, token_id=int(token_id))
    except NotFound:
        return not_found_page(request, "There is no token of yours with this number.")
    return RedirectResponse(url_path(request, "page_account"), status_code=303)


@router.post("/account/sessions/end", name="page_end_sessions")
def end_all_sessions(request: Request, session: SessionDep, user: BrowserUserDep) -> Response:
    """Sign out of every browser at once: the session version moves on, so every session cookie is stale."""
    end_sessions(session=session, user=user)
    response = RedirectResponse(url_path(request, "page_signin"), status_code=303)
    end_session(request, response, session)
    return response
