using System.Diagnostics.CodeAnalysis;

// RS0026 ("do not add multiple public overloads with optional parameters") guards against a call that
// binds to another overload after a new optional parameter appears. These pairs cannot be confused: their
// required parameters differ in type (a Stream against a host and port, a Stream against a path), and
// their optional tails are the same. Any new such pair has to be listed here, a deliberate decision.
[assembly: SuppressMessage("ApiDesign", "RS0026", Justification = "Overloads differ in the types of their required parameters", Scope = "member",
    Target = "~M:GuestMemory.VirtualMachine.MoveTo(System.IO.Stream,System.Action,System.Action,GuestMemory.Migration.MoveOptions,System.IProgress{GuestMemory.Migration.MigrationProgress})~GuestMemory.Migration.MoveReport")]
[assembly: SuppressMessage("ApiDesign", "RS0026", Justification = "Overloads differ in the types of their required parameters", Scope = "member",
    Target = "~M:GuestMemory.VirtualMachine.MoveTo(System.String,System.Int32,System.Action,System.Action,GuestMemory.Migration.MoveOptions,System.IProgress{GuestMemory.Migration.MigrationProgress})~GuestMemory.Migration.MoveReport")]
[assembly: SuppressMessage("ApiDesign", "RS0026", Justification = "Overloads differ in the types of their required parameters", Scope = "member",
    Target = "~M:GuestMemory.GlobalMemoryManager.RestoreVm(GuestMemory.VmOptions,System.IO.Stream,System.Action{GuestMemory.VirtualMachine})~GuestMemory.VirtualMachine")]
[assembly: SuppressMessage("ApiDesign", "RS0026", Justification = "Overloads differ in the types of their required parameters", Scope = "member",
    Target = "~M:GuestMemory.GlobalMemoryManager.RestoreVm(GuestMemory.VmOptions,System.String,System.Action{GuestMemory.VirtualMachine})~GuestMemory.VirtualMachine")]
