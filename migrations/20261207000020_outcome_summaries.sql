-- The Outcomes page's summaries are brought up to date every 10 minutes on the app clock (see
-- src/outcome_summaries.rs), so a page load rarely computes a day itself.
INSERT INTO schedules (name, next_at) VALUES ('outcome_summaries', 0);
