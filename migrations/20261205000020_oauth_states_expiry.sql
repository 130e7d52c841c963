-- `/auth` removes expired install states a batch at a time, oldest first: by this index, not a scan.
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);
