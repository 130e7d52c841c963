-- Cost (SPEC §10): what each contact cost, as integers (no floats in storage).
-- A call's price as Exotel reported it (status callback or Call details), in paise; NULL when it
-- never reported one (the call is then priced by its started minutes at costs.call_minute_paise).
ALTER TABLE call_attempts ADD COLUMN price_paise BIGINT;
-- The SMS units Exotel reported (`SmsUnits`) as a number; NULL when not reported (counted as one).
ALTER TABLE sms_messages ADD COLUMN units_count BIGINT;
