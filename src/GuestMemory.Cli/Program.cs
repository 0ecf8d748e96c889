using System.CommandLine;
using GuestMemory.Cli;
using GuestMemory.Cli.Commands;

var root = new RootCommand("gmm: GuestMemory, the over-committing memory manager for virtual machines (a C# take on VirtualBox's GMM)");
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(AnalyzeCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(MigrateCommand.Create());
root.Subcommands.Add(GuestMemory.Cli.Commands.Qemu.QemuCommand.Create());
return CommandRunner.Run(root, args);
