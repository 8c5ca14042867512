CREATE TABLE "audit_chain_checkpoints" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_chain_checkpoints_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"org_id" uuid,
	"chain_seq" bigint NOT NULL,
	"sealed_count" bigint NOT NULL,
	"checksum" text NOT NULL,
	"signed_at" timestamp (6) with time zone NOT NULL,
	"key_id" text NOT NULL,
	"signature" text NOT NULL,
	"body" jsonb NOT NULL,
	"exported_to" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_chain_verifications" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_chain_verifications_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"trigger" text NOT NULL,
	"scope" text,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"status" text DEFAULT 'running' NOT NULL,
	"chains_checked" integer DEFAULT 0 NOT NULL,
	"rows_checked" bigint DEFAULT 0 NOT NULL,
	"breaks_found" integer DEFAULT 0 NOT NULL,
	"breaks" jsonb,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "audit_chain_verify_status" (
	"org_id" uuid,
	"verification_id" bigint NOT NULL,
	"verified_at" timestamp with time zone DEFAULT now() NOT NULL,
	"rows_checked" bigint NOT NULL,
	"breaks_found" integer NOT NULL,
	"first_break" jsonb,
	CONSTRAINT "audit_chain_verify_status_org_unique" UNIQUE NULLS NOT DISTINCT("org_id")
);
--> statement-breakpoint
CREATE INDEX "audit_chain_checkpoints_org_seq_idx" ON "audit_chain_checkpoints" USING btree ("org_id","chain_seq");