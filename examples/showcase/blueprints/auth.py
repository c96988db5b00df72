"""Register, log in, log out, and the account page (with the API token)."""

from __future__ import annotations

from sqlalchemy import select

from examples.showcase.accounts import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    USERNAME,
    authenticate,
    create_user,
    current_user,
    log_in,
    log_out,
    login_required,
    safe_next,
)
from examples.showcase.bootstrap import DEMO_PASSWORD, DEMO_USERNAME
from examples.showcase.database import cache
from examples.showcase.models import USERNAME_LENGTH, User
from examples.showcase.render import render
from porch import Blueprint, RedirectResponse, Request, Response
from porch.db import Session
from porch.security import flash, rate_limit
from porch.web.openapi import exclude

bp = Blueprint("auth")

# Per client address, kept in the app's cache: password guessing is slow (argon2) and few.
LOGIN_RATE = "20/minute"
REGISTER_RATE = "30/minute"

DEMO = {"username": DEMO_USERNAME, "password": DEMO_PASSWORD}


async def _fields(request: Request, *names: str) -> dict[str, str]:
    form = await request.form()
    return {name: str(form.get(name) or "") for name in names}


@bp.get("/register")
@exclude  # a page, not part of the JSON API
async def register_form(request: Request) -> Response:
    return render(request, "register.html", form={}, errors={})


@bp.post("/register")
@exclude  # a page, not part of the JSON API
@rate_limit(REGISTER_RATE, cache=cache)
async def register(request: Request, db: Session) -> Response:
    form = await _fields(request, "username", "password", "confirm")
    form["username"] = form["username"].strip()
    errors: dict[str, str] = {}
    if not USERNAME.fullmatch(form["username"]):
        errors["username"] = f"3 to {USERNAME_LENGTH} letters, digits, '-' or '_'."
    elif await db.scalar(select(User.id).where(User.username == form["username"])):
        errors["username"] = "That name is taken: choose another."
    if not PASSWORD_MIN <= len(form["password"]) <= PASSWORD_MAX:
        errors["password"] = f"{PASSWORD_MIN} to {PASSWORD_MAX} characters."
    elif form["confirm"] != form["password"]:
        errors["confirm"] = "The two passwords differ."
    if errors:  # the form again: what was typed (never the passwords) and the errors
        return render(
            request, "register.html", 422, form={"username": form["username"]}, errors=errors
        )
    user = await create_user(db, form["username"], form["password"])
    log_in(request, user)
    flash(request, f"Welcome, {user.username}!", "success")
    return RedirectResponse("/", 303)


@bp.get("/login")
@exclude  # a page, not part of the JSON API
async def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", form={}, error=None, next=safe_next(next), demo=DEMO)


@bp.post("/login")
@exclude  # a page, not part of the JSON API
@rate_limit(LOGIN_RATE, cache=cache)
async def login(request: Request, db: Session) -> Response:
    form = await _fields(request, "username", "password", "next")
    user = await authenticate(db, form["username"].strip(), form["password"])
    if user is None:
        return render(
            request,
            "login.html",
            422,
            form={"username": form["username"]},
            error="Wrong username or password.",
            next=safe_next(form["next"]),
            demo=DEMO,
        )
    log_in(request, user)
    flash(request, f"Logged in as {user.username}.", "success")
    return RedirectResponse(safe_next(form["next"]), 303)


@bp.post("/logout")
@exclude  # a page, not part of the JSON API
async def logout(request: Request) -> Response:
    log_out(request)
    flash(request, "Logged out.", "success")
    return RedirectResponse("/", 303)


@bp.get("/account")
@exclude  # a page, not part of the JSON API
@login_required
async def account(request: Request, db: Session) -> Response:
    user = await current_user(request, db)
    if user is None:  # the account is gone (a fresh database): start again
        log_out(request)
        return RedirectResponse("/login", 303)
    return render(request, "account.html", user=user)
