"""Every list is paginated: pages for the catalogue, a cursor for time series."""

from rest_framework.pagination import CursorPagination, PageNumberPagination


class PagePagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class TimeCursorPagination(CursorPagination):
    """Stable under inserts and no COUNT(*) over millions of samples."""

    ordering = ("time", "id")
    page_size = 500
    page_size_query_param = "page_size"
    max_page_size = 5000
