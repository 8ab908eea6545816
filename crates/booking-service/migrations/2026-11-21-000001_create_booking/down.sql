DROP TABLE appointment_reminders;
DROP TABLE appointments;
DROP TABLE customers;
DROP TABLE api_keys;
DROP TABLE tenants;
