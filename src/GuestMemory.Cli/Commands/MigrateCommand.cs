using System.CommandLine;

namespace GuestMemory.Cli.Commands;

/// <summary><c>gmm migrate listen|send</c>: move a VM between two GuestMemory hosts over TCP (docs/migration-protocol.md).</summary>
internal static class MigrateCommand
{
    public static Command Create()
    {
        var migrate = new Command("migrate", "Move a running VM to another GuestMemory host over TCP: listen on the target, send from the source");
        migrate.Subcommands.Add(MigrateListenCommand.Create());
        migrate.Subcommands.Add(MigrateSendCommand.Create());
        return migrate;
    }

    /// <summary>The <c>--json</c> option of both sides.</summary>
    public static Option<bool> JsonOption() => new("--json") { Description = "Print JSON documents instead of tables (listen: one per session, on one line each)" };
}
