-- run_token: a random token per segment materialisation, stored with its members (segment_members) and its
-- summary (segment_runs). Two materialisations of one segment at once (the scheduled refresh and
-- POST /v1/segments/:id/materialize, on one collector or two, or with clocks a little apart) could pick the same
-- run number, Math.max(now, previous run + 1): their members were then stored under one run, each twice, and
-- segment_members_current, ltv_by_segment and the run's counts doubled. Readers now take a segment's newest run
-- by run, then run_token (view segment_last_runs), so each materialisation's members stay apart even when their
-- run numbers are the same. Rows stored before read as '': one token per run, as they were.
ALTER TABLE segment_members ADD COLUMN run_token String DEFAULT '' AFTER run;

ALTER TABLE segment_runs ADD COLUMN run_token String DEFAULT '' AFTER run;
