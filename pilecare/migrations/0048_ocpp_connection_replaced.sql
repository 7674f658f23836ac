-- A newer OCPP connection for a charger replaces the older one in any gateway process
-- (issue 15, item 5; gateway/ocpp/connections.py). The newer connection claims the row of
-- ocpp_connections by an upsert; this trigger tells every gateway process which connection
-- lost it, so the process holding that socket closes it at once and without reporting the
-- charger offline (it is online, through the newer connection).
CREATE FUNCTION ocpp_connection_replaced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.connection_id IS DISTINCT FROM NEW.connection_id THEN
        PERFORM pg_notify('ocpp_connection_replaced',
                          json_build_object('pile_id', OLD.pile_id, 'connection_id', OLD.connection_id,
                                            'gateway', OLD.gateway)::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER ocpp_connection_replaced AFTER UPDATE ON ocpp_connections
    FOR EACH ROW EXECUTE FUNCTION ocpp_connection_replaced();
