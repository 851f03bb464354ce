"""The batched OIC path (--oic_batch_kb): records grouped into request bodies of at most N KB (grouping), one batch
posted and its insertErrors mapped back to each record (send), and the DoFn and transform that run both (post)."""
