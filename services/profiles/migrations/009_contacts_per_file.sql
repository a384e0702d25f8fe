-- A contact's id names it within its customer's file only: every file the ERP's customer master
-- opens has its billing contact P-ERP-BILLING. Keyed by the id alone, each such contact replaced
-- the one before in the read model; keyed by both, each file keeps its own. The rows lost are
-- projected again from the event store.
ALTER TABLE contacts DROP CONSTRAINT contacts_pkey;
DELETE FROM contacts;
INSERT INTO contacts (contact_id, customer_id, name, role, email, phone, billing)
SELECT DISTINCT ON (e.customer_id, e.data->>'contact_id')
       e.data->>'contact_id', e.customer_id, e.data->>'name', e.data->>'role', e.data->>'email',
       e.data->>'phone', (e.data->>'billing')::boolean
  FROM public.events e
 WHERE e.event_type IN ('profiles.ContactAdded', 'profiles.ContactChanged')
 ORDER BY e.customer_id, e.data->>'contact_id', e.position DESC;
UPDATE contacts c
   SET retired_at = r.occurred_at, retired_reason = r.data->>'reason'
  FROM (SELECT DISTINCT ON (customer_id, data->>'contact_id') customer_id, data, occurred_at
          FROM public.events WHERE event_type = 'profiles.ContactRetired'
         ORDER BY customer_id, data->>'contact_id', position DESC) r
 WHERE c.customer_id = r.customer_id AND c.contact_id = r.data->>'contact_id';
ALTER TABLE contacts ADD PRIMARY KEY (customer_id, contact_id);
