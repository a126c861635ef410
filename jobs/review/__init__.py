"""The review queue (`k2batch review`, the notebook's `JobResult.review`): least confident
records first beside their input text, as Parquet and as a Label Studio import."""

from jobs.review.export import ReviewFiles, write_review
from jobs.review.queue import ReviewError, ReviewQueue, review_queue

__all__ = ["ReviewError", "ReviewFiles", "ReviewQueue", "review_queue", "write_review"]
