"""Files shared in a group (members only)."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from minitorrent.error_codes import ErrorCode
from minitorrent.file_list import FolderLimits
from minitorrent.tracker.api.deps import DB, Caller, Context, context_of, db_endpoint
from minitorrent.tracker.api.file_lists import FileLists
from minitorrent.tracker.api.lists import JsonList
from minitorrent.tracker.services import files, quotas
from minitorrent.tracker.services.errors import Invalid

router = APIRouter(prefix="/groups/{group_id}/files", tags=["files"])
NO_CONTENT = status.HTTP_204_NO_CONTENT
# base64 of files.MAX_INFO_BYTES, rounded up
MAX_INFO_B64 = (files.MAX_INFO_BYTES + 2) // 3 * 4
# A registration's whole JSON body: the info and a little more (body_limit.py).
MAX_BODY = MAX_INFO_B64 + 4096


class NewFile(BaseModel):
    info: str = Field(max_length=MAX_INFO_B64, description="base64 of the bencoded info dict")
    sha1: str | None = Field(
        None,
        max_length=64,
        description="ignored (sent by clients of the previous version): the info-hash, "
        "which binds the piece hashes, identifies the file",
    )


class FileSummary(BaseModel):
    name: str
    info_hash: str
    length: int


class FileOut(BaseModel):
    name: str
    length: int
    info_hash: str = Field(description="hex SHA-1 of the info dictionary: the file's identity")
    piece_length: int
    seeders: int
    leechers: int
    sharers: int
    file_count: int | None = Field(description="files in a folder; null for a single file")
    sha1: str = Field("", description="always empty; kept for clients of the previous version")


class ContentOut(BaseModel):
    path: str
    length: int


# The list is FileView's fields as FileOut names them (api/file_lists.py writes it).
FILES = JsonList(files.FileView, FileOut)


class FileDetailsOut(FileOut):
    info: str  # base64


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text (a plain ValueError)
        raise Invalid("info is not valid base64", code=ErrorCode.BAD_INFO) from None


@router.post("", status_code=status.HTTP_201_CREATED)
@db_endpoint
def share_file(
    group_id: str, body: NewFile, caller: Caller, context: Context, db: DB
) -> FileSummary:
    """Register a file, or add the caller as a sharer if the group has the same content."""
    settings = context.settings
    limits = quotas.Quotas(
        files_per_member=settings.quota_files_per_member,
        files_per_group=settings.quota_files_per_group,
        info_bytes_per_member=settings.quota_info_bytes_per_member,
        info_bytes_per_group=settings.quota_info_bytes_per_group,
    )
    folder_limits = FolderLimits(settings.folder_max_files, settings.folder_max_path_bytes)
    shared = files.share_file(
        db,
        caller.user_id,
        group_id,
        _b64decode(body.info),
        now=context.clock(),
        quotas=limits,
        folder_limits=folder_limits,
    )
    return FileSummary.model_validate(shared, from_attributes=True)


@router.get("", response_model=list[FileOut])
async def list_files(group_id: str, caller: Caller, request: Request) -> Response:
    """From memory but for the live counts (api/file_lists.py); a read needs no slot."""
    lists: FileLists = request.app.state.file_lists
    answer = await context_of(request).work.read(lists.answer, caller.user_id, group_id)
    return Response(answer, media_type="application/json")


@router.get("/{name}")
@db_endpoint
def get_file(group_id: str, name: str, caller: Caller, context: Context, db: DB) -> FileDetailsOut:
    details = files.get_file(db, caller.user_id, group_id, name, now=context.clock())
    fields = FileOut.model_validate(details, from_attributes=True).model_dump()
    return FileDetailsOut(**fields, info=base64.b64encode(details.info).decode())


@router.get("/{name}/contents")
@db_endpoint
def file_contents(group_id: str, name: str, caller: Caller, db: DB) -> list[ContentOut]:
    """The files of a shared folder (paths below it) with their sizes; a file lists itself."""
    rows = files.file_contents(db, caller.user_id, group_id, name)
    return [ContentOut(path=path, length=length) for path, length in rows]


@router.delete("/{name}/shares/me", status_code=NO_CONTENT)
@db_endpoint
def stop_share(group_id: str, name: str, caller: Caller, context: Context, db: DB) -> Response:
    """Stop sharing: the caller's share record and live peers of the file go."""
    files.stop_share(db, caller.user_id, group_id, name, now=context.clock())
    return Response(status_code=NO_CONTENT)
