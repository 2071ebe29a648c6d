"""The ingest component: readers, contracts, card protection, batches and their ledger."""

from weir.ingest.batch import BatchResult, Ingestor
from weir.ingest.contract import Contract
from weir.ingest.ledger import BatchRecord, Counts, FileEntry, Ledger
from weir.ingest.pci import PaymentTokenizer

__all__ = [
    "BatchRecord",
    "BatchResult",
    "Contract",
    "Counts",
    "FileEntry",
    "Ingestor",
    "Ledger",
    "PaymentTokenizer",
]
