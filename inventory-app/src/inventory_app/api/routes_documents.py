"""Documents (单据): create/post/void; stock changes only through these."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from inventory_app.api.deps import (
    ALL_ROLES,
    DOCUMENT_WRITERS,
    VOIDERS,
    database_of,
    edge_replay,
    get_db,
    refuse_nul_params,
    require,
    settings_of,
)
from inventory_app.api.http import (
    IMMUTABLE,
    PROBLEM_RESPONSES,
    PUBLIC_STALE,
    decode_cursor,
    expected_version,
    json_response,
    page_response,
    version_etag,
)
from inventory_app.db import Database
from inventory_app.models import Document
from inventory_app.schemas import DocumentIn, DocumentOut, DocumentPatch, DocumentType, Page
from inventory_app.services import documents
from inventory_app.services.auth import Principal
from inventory_app.settings import Settings

router = APIRouter(prefix="/api", tags=["documents"], responses=PROBLEM_RESPONSES,
                   dependencies=[Depends(refuse_nul_params)])
ONE: dict[int | str, dict[str, Any]] = {200: {"model": DocumentOut}}
Db = Annotated[Database, Depends(get_db)]
# The write routes read the database, settings and edge-replay context from the request in
# their worker thread (`database_of`, `settings_of`, `edge_replay`) instead of as dependencies:
# each dependency costs the event loop a resolution step on the sale path (issue 14).


def _max_skew(settings: Settings) -> dt.timedelta:
    return dt.timedelta(seconds=settings.max_clock_skew_s)


def document_out(doc: Document) -> DocumentOut:
    return DocumentOut.model_validate(doc, from_attributes=True)


def _respond(doc: Document, status: int = 200) -> Response:
    cache = IMMUTABLE if doc.status == "voided" else PUBLIC_STALE
    return json_response(document_out(doc), status=status, cache=cache,
                         etag=version_etag("document", doc.id, doc.version),
                         headers={"Location": f"/api/documents/{doc.id}"} if status == 201
                         else None)


@router.post("/documents", status_code=201,
             responses={201: {"model": DocumentOut}, 200: {"model": DocumentOut}})
def create_document(
    body: DocumentIn, request: Request,
    principal: Principal = Depends(require(*DOCUMENT_WRITERS)),
) -> Response:
    """Create a document (client UUID `id`); with `post: true` (default) post it at once.

    `201` when created; `200` with the existing document when the id is known already.
    A time more than `INVENTORY_MAX_CLOCK_SKEW_S` in the future is clamped to the receive time
    and the document is flagged for review.
    """
    edge = edge_replay(request)
    with database_of(request).write() as session:
        doc, created = documents.create_document(session, body, principal, edge,
                                                 _max_skew(settings_of(request)))
        return _respond(doc, 201 if created else 200)


@router.get("/documents", responses={200: {"model": Page[DocumentOut]}})
def list_documents(
    request: Request, db: Db, _p: Principal = Depends(require(*ALL_ROLES)),
    warehouse_id: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
    type: DocumentType | None = None,
    status: Annotated[str | None, Query(pattern="^(draft|posted|voided)$")] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    key = decode_cursor(cursor, 1)
    with db.read() as session:
        rows = documents.list_documents(session, after_seq=key[0] if key else None, limit=limit,
                                        warehouse_id=warehouse_id, type=type, status=status)
        items = [document_out(d) for d in rows]
        seqs = [d.seq for d in rows]
    return page_response(request, items, limit, lambda _last: [seqs[-1]])


@router.get("/documents/{document_id}", responses=ONE)
def get_document(
    document_id: uuid.UUID, db: Db, _p: Principal = Depends(require(*ALL_ROLES))
) -> Response:
    with db.read() as session:
        return _respond(documents.get_document(session, str(document_id)))


@router.patch("/documents/{document_id}", responses=ONE)
def patch_document(
    document_id: uuid.UUID, body: DocumentPatch, request: Request,
    principal: Principal = Depends(require(*DOCUMENT_WRITERS)),
) -> Response:
    """Change a draft; needs If-Match (428/412)."""
    version = expected_version(request, "document", document_id)
    with database_of(request).write() as session:
        return _respond(documents.update_draft(session, str(document_id), version, body,
                                               principal, _max_skew(settings_of(request))))


@router.post("/documents/{document_id}/post", responses=ONE)
def post_document(
    document_id: uuid.UUID, request: Request,
    principal: Principal = Depends(require(*DOCUMENT_WRITERS)),
) -> Response:
    """Post a draft (no If-Match: posting commutes)."""
    edge = edge_replay(request)
    with database_of(request).write() as session:
        return _respond(documents.post_document(session, str(document_id), principal, edge))


@router.post("/documents/{document_id}/void", responses=ONE)
def void_document(
    document_id: uuid.UUID, db: Db, principal: Principal = Depends(require(*VOIDERS))
) -> Response:
    """Void a posted document: appends reversing movements."""
    with db.write() as session:
        return _respond(documents.void_document(session, str(document_id), principal))
