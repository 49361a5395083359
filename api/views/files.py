"""/api/v1/files/: the files an agent uploads before a deploy."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from api import serializers as s
from api.views.base import ApiView, answers
from chatfiles.models import ChatFile
from chatfiles.services import chatfile_create


class FileCreateView(ApiView):
    @extend_schema(operation_id="files_create", request=s.FileCreateSerializer,
                   responses=answers(s.FileSerializer, 201), summary="Upload one file of a strategy")
    def post(self, request: Request) -> Response:
        data = self.valid(s.FileCreateSerializer, request.data)
        chat_file = chatfile_create(owner=request.user, chat_id=data["chat_id"],  # type: ignore[arg-type]
                                    filename=data["filename"], content=data["content"])
        return self.out(s.FileSerializer, chat_file, 201)


class FileDetailView(ApiView):
    @extend_schema(operation_id="files_retrieve", responses=answers(s.FileContentSerializer),
                   summary="Read an uploaded file")
    def get(self, request: Request, file_id: int) -> Response:
        chat_file = ChatFile.objects.filter(owner=request.user, pk=file_id).first()  # type: ignore[misc]
        if chat_file is None:
            raise NotFound(f"you have no file {file_id}")
        return self.out(s.FileContentSerializer, chat_file)
