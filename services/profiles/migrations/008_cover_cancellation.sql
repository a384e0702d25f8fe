-- Cover the insurer cancelled: from that day it insures nothing.
ALTER TABLE insurance_covers ADD COLUMN cancelled_on date;
ALTER TABLE insurance_covers ADD COLUMN cancellation_reason text;
