-- The shipping address's state or union territory (`crate::pincode::State::code`, "MH"), read off
-- its PIN code at intake and after the shopper corrects it; NULL when unknown (no address, not in
-- India, not a PIN code). Coarse, unlike the sealed address, so kept in plain text for the
-- Outcomes page's "by state" table and kept when the order's customer details are erased.
ALTER TABLE orders ADD COLUMN ship_state TEXT;
