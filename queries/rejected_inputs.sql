-- title: What ingest could not store, and why
-- description: Every rejected record or file with its path, 1-based position (NULL for a whole
-- file) and reason, oldest run first.
-- inputs: rejected, files
-- outputs: run_id, path, position, reason
select f.run_id, f.path, r.position, r.reason
from rejected r
join files f using (file_id)
order by f.run_id, f.path, r.position nulls first, r.reason
