CREATE TABLE "audit_chain_discovery" (
	"org_id" uuid,
	"seen_seq" bigint DEFAULT 0 NOT NULL,
	"seen_count" bigint DEFAULT 0 NOT NULL,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "audit_chain_discovery_org_unique" UNIQUE NULLS NOT DISTINCT("org_id")
);
--> statement-breakpoint
CREATE TABLE "audit_chain_progress" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"horizon_seq" bigint DEFAULT 0 NOT NULL,
	"horizon_at" timestamp with time zone,
	"discovered_seq" bigint DEFAULT 0 NOT NULL,
	"discovered_at" timestamp with time zone,
	CONSTRAINT "audit_chain_progress_single_row" CHECK ("audit_chain_progress"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE "audit_chain_state" (
	"org_id" uuid,
	"watermark_seq" bigint DEFAULT 0 NOT NULL,
	"head_checksum" text,
	"sealed_count" bigint DEFAULT 0 NOT NULL,
	"last_sealed_at" timestamp with time zone,
	"halted_at" timestamp with time zone,
	"halted_reason" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "audit_chain_state_org_unique" UNIQUE NULLS NOT DISTINCT("org_id"),
	CONSTRAINT "audit_chain_state_head_pairs" CHECK (("audit_chain_state"."watermark_seq" = 0) = ("audit_chain_state"."head_checksum" is null))
);
--> statement-breakpoint
CREATE TABLE "audit_logs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid,
	"chain_seq" bigint GENERATED ALWAYS AS IDENTITY (sequence name "audit_logs_chain_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"occurred_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"recorded_at" timestamp (6) with time zone DEFAULT now() NOT NULL,
	"actor_type" text NOT NULL,
	"actor_id" text,
	"actor_email" text,
	"action" text NOT NULL,
	"resource_type" text,
	"resource_id" text,
	"resource_name" text,
	"details" jsonb,
	"ip_address" "inet",
	"user_agent" text,
	"result" text DEFAULT 'success' NOT NULL,
	"error_message" text,
	"prev_checksum" text,
	"checksum" text,
	"checksum_version" smallint,
	"pii_digest" text,
	"pii_salt" text,
	CONSTRAINT "audit_logs_chain_link_pairs" CHECK (("audit_logs"."prev_checksum" is null) = ("audit_logs"."checksum" is null)),
	CONSTRAINT "audit_logs_chain_version_pairs" CHECK (("audit_logs"."checksum" is null) = ("audit_logs"."checksum_version" is null)),
	CONSTRAINT "audit_logs_result_known" CHECK ("audit_logs"."result" in ('success', 'failure', 'denied'))
);
--> statement-breakpoint
CREATE INDEX "audit_logs_org_chain_seq_idx" ON "audit_logs" USING btree ("org_id","chain_seq");--> statement-breakpoint
CREATE INDEX "audit_logs_chain_seq_brin" ON "audit_logs" USING brin ("chain_seq");