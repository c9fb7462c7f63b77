from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Learner
from app.services.learners import guest_learner


def test_a_guest_is_created_once_and_found_again(session: Session) -> None:
    first = guest_learner(session=session, guest_id="abc")
    again = guest_learner(session=session, guest_id="abc")
    other = guest_learner(session=session, guest_id="xyz")
    assert first.id == again.id != other.id
    assert session.scalar(select(func.count()).select_from(Learner)) == 2
