import csv
import io

from rest_framework.renderers import BaseRenderer


class ReportCsvRenderer(BaseRenderer):
    """The report's rows as CSV, one line per group and period, columns as in `columns`."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=data["columns"], lineterminator="\r\n")
        writer.writeheader()
        for row in data["rows"]:
            writer.writerow({key: "" if value is None else value for key, value in row.items()})
        return buffer.getvalue().encode(self.charset)
