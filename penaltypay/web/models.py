from django.db import models


class SharedCount(models.Model):
    """A count or a mark every process shares, on the embedded default (no Redis): the rate
    limits and card-testing pauses (penaltypay.web.shared_counts). Changed only by single
    atomic statements; rows past `expires` count as absent and are culled as they go."""

    name = models.CharField(max_length=250, primary_key=True)
    value = models.FloatField()
    expires = models.FloatField(db_index=True)  # seconds since the epoch

    class Meta:
        db_table = "shared_count"

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"
