-- A pile the platform took out of service for a safety fault goes back in service (OCPP
-- ChangeAvailability Operative) once a supervisor has verified its repair: when it was sent.
ALTER TABLE work_orders ADD COLUMN back_in_service_at timestamptz;
